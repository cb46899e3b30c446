package detect

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// office registers a working phone at addr, proven.
func office(addr string) Event { return register(0, addr+":5062", "alice", true, 200) }

// firstFinding returns how many events ran up to the first finding want
// accepts, and that finding; -1 if none.
func firstFinding(t *testing.T, s *Standard, evs []Event, want func(Finding) bool) (int, Finding) {
	t.Helper()
	for i := range evs {
		for _, f := range s.Observe(&evs[i], nil) {
			if want(f) {
				return i + 1, f
			}
		}
	}
	return -1, Finding{}
}

func TestUnprovenNeverCostsATrustedAddress(t *testing.T) {
	s := newStd(t, Limits{})
	require.Empty(t, feed(t, s, office("192.0.2.50")))
	var evs []Event
	for i := range 1000 {
		// Wrong digests over nonces never issued to this address, junk, and
		// a scanner's name: anyone can send them with this source.
		ev := register(time.Duration(i)*time.Second, "192.0.2.50:5070", fmt.Sprint("user", i%30), true, 403)
		ev.Proven = false
		evs = append(evs, ev)
		evs = append(evs, Event{Time: t0.Add(time.Duration(i) * time.Second), Source: src("192.0.2.50:5071"), Malformed: "no Via"})
	}
	evs = append(evs, Event{Time: t0.Add(time.Hour / 2), Source: src("192.0.2.50:5072"), Method: "OPTIONS", UserAgent: "friendly-scanner"})
	assert.Empty(t, feed(t, s, evs...))

	// The same at an address with no proven login may ban it.
	n, f := firstFinding(t, s, []Event{{Time: t0, Source: src("192.0.2.51:5072"), Method: "OPTIONS", UserAgent: "friendly-scanner"}},
		func(Finding) bool { return true })
	assert.Equal(t, 1, n)
	assert.Equal(t, Scanner, f.Cause)
	assert.False(t, f.Proven)
}

func TestUnprovenLoginEarnsNoTrust(t *testing.T) {
	s := newStd(t, Limits{})
	ok := register(0, "192.0.2.52:5062", "alice", true, 200)
	ok.Proven = false
	require.Empty(t, feed(t, s, ok))
	n, f := firstFinding(t, s, every(10, time.Second, func(i int, at time.Duration) Event {
		return register(time.Second+at, "192.0.2.52:5070", "bob", true, 403)
	}), func(Finding) bool { return true })
	assert.Equal(t, 5, n, "banned as if no one logged in")
	assert.False(t, f.Guard)
}

func TestSlowGuessing(t *testing.T) {
	s := newStd(t, Limits{})
	// Four guesses every 13 minutes stay under 5 in 10 minutes.
	evs := every(100, 13*time.Minute/4, func(i int, at time.Duration) Event {
		return register(at, "192.0.2.53:5070", fmt.Sprint("user", i), true, 403)
	})
	n, f := firstFinding(t, s, evs, func(f Finding) bool { return !f.Subject.Anywhere() })
	assert.Equal(t, 10, n)
	assert.Equal(t, BadCredentials, f.Cause)
	assert.Equal(t, "192.0.2.53", f.Subject.String())
}

func TestDistributedGuessing(t *testing.T) {
	s := newStd(t, Limits{})
	var evs []Event
	for a := range 20 {
		for g := range 3 {
			evs = append(evs, register(time.Duration(a*3+g)*time.Second, fmt.Sprintf("198.51.100.%d:5060", a+1), "alice", true, 403))
		}
	}
	n, f := firstFinding(t, s, evs, func(f Finding) bool { return f.Subject.Anywhere() })
	assert.Equal(t, 5, n, "guard the account at the threshold, once two addresses fail")
	assert.True(t, f.Guard)
	assert.Equal(t, "alice@*", f.Subject.String())
	assert.ElementsMatch(t, []netip.Addr{netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.100.2")}, f.Evidence.Addresses)
}

func TestOneDeviceFailingIsNotSpread(t *testing.T) {
	s := newStd(t, Limits{})
	// alice's old phone at home fails; her office phone works.
	require.Empty(t, feed(t, s, register(0, "192.0.2.60:5062", "alice", true, 200)))
	n, _ := firstFinding(t, s, every(8, time.Minute, func(i int, at time.Duration) Event {
		return register(at, "192.0.2.61:5060", "alice", true, 403)
	}), func(f Finding) bool { return f.Subject.Anywhere() })
	assert.Equal(t, -1, n, "one address failing is a device, not guessing spread")
}

func TestGuardAtAnOffice(t *testing.T) {
	for _, tc := range []struct {
		name  string
		login string // the account the guesser logged in with, if any
	}{{"behind a working phone", ""}, {"after its own login", "mallory"}} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStd(t, Limits{})
			const addr = "192.0.2.70"
			require.Empty(t, feed(t, s, office(addr)))
			if tc.login != "" {
				require.Empty(t, feed(t, s, register(time.Second, addr+":6000", tc.login, true, 200)))
			}
			var evs []Event
			for a := range 20 {
				for g := range 5 {
					evs = append(evs, register(time.Minute+time.Duration(a*5+g)*time.Second, addr+":6000", fmt.Sprint("user", a), true, 403))
				}
			}
			n, f := firstFinding(t, s, evs, func(f Finding) bool { return f.Guard })
			t.Logf("guarded after %d guesses", n)
			assert.LessOrEqual(t, n, 10, "the address is guarded by the 10th guess")
			assert.Greater(t, n, 0)
			assert.Equal(t, addr, f.Subject.String())
			assert.True(t, f.OthersOK)
		})
	}
}

// Counting proven rejections per account across addresses allocates
// nothing while no finding is made (the Detector contract).
func TestAccountCountingAllocs(t *testing.T) {
	never := Limit{Threshold: 1000}
	s := newStd(t, Limits{BadCredentials: never, AccountFailures: never, SlowCredentials: never,
		AccountCredentials: never, AccountSlow: never})
	ev := register(0, "192.0.2.120:5060", "alice", true, 403)
	for range 10 {
		require.Empty(t, s.Observe(&ev, nil)) // the record and the shard's map entry exist
	}
	assert.Zero(t, testing.AllocsPerRun(100, func() { s.Observe(&ev, nil) }))
}
