package ban_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/detect"
	"github.com/sipban/sipban/enforce"
	"github.com/sipban/sipban/internal/fakeclock"
)

type clock = fakeclock.Clock

func newClock() *clock { return fakeclock.New(time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newGuard(t *testing.T, c *clock, opts ban.Options) *ban.Guard {
	t.Helper()
	opts.Now = c.Now
	opts.Logger = quiet
	g, err := ban.New(opts)
	require.NoError(t, err)
	return g
}

type req struct {
	from    string
	method  string
	account string
	creds   bool
	status  int
}

// send observes one event per request, a second apart.
func send(t *testing.T, g *ban.Guard, c *clock, rs ...req) error {
	t.Helper()
	var errs []error
	for _, r := range rs {
		c.Advance(time.Second)
		ev := detect.Event{Source: netip.MustParseAddrPort(r.from), Transport: "udp", Method: r.method,
			Account: r.account, Credentials: r.creds, Status: r.status, UserAgent: "Grandstream GXP2170 1.0.11.23", Proven: r.creds}
		if ev.Method == "" {
			ev.Method = "REGISTER"
		}
		errs = append(errs, g.Observe(context.Background(), &ev))
	}
	return errors.Join(errs...)
}

func times(n int, r req) []req {
	out := make([]req, n)
	for i := range out {
		out[i] = r
	}
	return out
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestGuardBansGuessing(t *testing.T) {
	c := newClock()
	g := newGuard(t, c, ban.Options{})
	guess := req{from: "203.0.113.5:5060", account: "100", creds: true, status: 403}
	require.NoError(t, send(t, g, c, times(4, guess)...))
	assert.False(t, g.Banned(addr("203.0.113.5")))
	require.NoError(t, send(t, g, c, guess))
	assert.True(t, g.Banned(addr("203.0.113.5")), "5th rejected credential bans")
	assert.False(t, g.Banned(addr("203.0.113.6")))

	bans := g.Bans()
	require.Len(t, bans, 1)
	r := bans[0]
	assert.Equal(t, "203.0.113.5", r.Subject.String())
	assert.Equal(t, "address", r.Scope)
	assert.Equal(t, detect.BadCredentials, r.Cause)
	assert.Equal(t, 0, r.Level)
	assert.Equal(t, time.Hour, r.Until.Sub(r.Since))
	assert.Equal(t, 5, r.Evidence.Count)
	assert.Equal(t, []string{"100"}, r.Evidence.Accounts)
	assert.Equal(t, []string{"Grandstream GXP2170 1.0.11.23"}, r.Evidence.UserAgents)
	assert.True(t, r.Diagnosis.Attack)
	assert.Equal(t, ban.CauseAttack, r.Diagnosis.Cause)
	assert.NotEmpty(t, r.Diagnosis.Advice)

	// Expiry with the fake clock, then a repeat offence is banned longer.
	c.Advance(time.Hour)
	n, err := g.Expire(context.Background(), c.Now())
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.False(t, g.Banned(addr("203.0.113.5")))
	assert.Empty(t, g.Bans())
	require.NoError(t, send(t, g, c, times(4, guess)...))
	assert.False(t, g.Banned(addr("203.0.113.5")), "counting starts afresh after a ban")
	require.NoError(t, send(t, g, c, guess))
	r, ok := g.Record(detect.SubjectOf(addr("203.0.113.5")))
	require.True(t, ok)
	assert.Equal(t, 1, r.Level)
	assert.Equal(t, 24*time.Hour, r.Until.Sub(r.Since), "the 10th failure in a day: held as long as the day's count stands, not the 2 h of level 1")
}

func TestGuardEscalationIsCapped(t *testing.T) {
	c := newClock()
	g := newGuard(t, c, ban.Options{Policy: ban.Policy{MaxBanTime: 5 * time.Hour}})
	scan := req{from: "192.0.2.66:5060", method: "OPTIONS", status: 200}
	var got []time.Duration
	for range 4 {
		ev := detect.Event{Source: netip.MustParseAddrPort(scan.from), Method: "OPTIONS", Status: 200, UserAgent: "friendly-scanner"}
		require.NoError(t, g.Observe(context.Background(), &ev))
		r, ok := g.Record(detect.SubjectOf(addr("192.0.2.66")))
		require.True(t, ok)
		got = append(got, r.Until.Sub(r.Since))
		require.NoError(t, g.Lift(context.Background(), r.Subject))
		c.Advance(time.Minute)
	}
	assert.Equal(t, []time.Duration{5 * time.Hour, 5 * time.Hour, 5 * time.Hour, 5 * time.Hour}, got, "a day's first ban, capped")

	g = newGuard(t, c, ban.Options{Policy: ban.Policy{MaxBanTime: 5 * time.Hour, BanTime: map[detect.Cause]time.Duration{detect.Scanner: time.Hour}}})
	got = nil
	for range 4 {
		ev := detect.Event{Source: netip.MustParseAddrPort(scan.from), Method: "OPTIONS", Status: 200, UserAgent: "sipvicious"}
		require.NoError(t, g.Observe(context.Background(), &ev))
		r, _ := g.Record(detect.SubjectOf(addr("192.0.2.66")))
		got = append(got, r.Until.Sub(r.Since))
		require.NoError(t, g.Lift(context.Background(), r.Subject))
	}
	assert.Equal(t, []time.Duration{time.Hour, 2 * time.Hour, 4 * time.Hour, 5 * time.Hour}, got)
}

func TestGuardBlocksOnlyTheMisconfiguredDevice(t *testing.T) {
	c := newClock()
	g := newGuard(t, c, ban.Options{})
	ok := []req{
		{from: "198.51.100.7:5060", account: "alice", creds: true, status: 200},
		{from: "198.51.100.7:5061", account: "bob", creds: true, status: 200},
	}
	require.NoError(t, send(t, g, c, ok...))
	typo := req{from: "198.51.100.7:5062", account: "carol", creds: true, status: 403}
	require.NoError(t, send(t, g, c, times(5, typo)...))

	office := addr("198.51.100.7")
	assert.False(t, g.Banned(office), "working devices keep working")
	assert.True(t, g.Admit(office, "carol", "") == ban.Blocked)
	assert.False(t, g.Admit(office, "alice", "") == ban.Blocked)
	assert.False(t, g.Admit(addr("198.51.100.8"), "carol", "") == ban.Blocked)

	r, found := g.Record(detect.Subject{Prefix: netip.MustParsePrefix("198.51.100.7/32"), Account: "carol"})
	require.True(t, found)
	assert.Equal(t, "account", r.Scope)
	assert.Equal(t, "carol@198.51.100.7", r.Subject.String())
	assert.False(t, r.Diagnosis.Attack)
	assert.Equal(t, ban.CauseTypo, r.Diagnosis.Cause)
	require.NotEmpty(t, r.Diagnosis.Devices)
	assert.Equal(t, uint16(5062), r.Diagnosis.Devices[0].Port)
	assert.True(t, r.Diagnosis.Devices[0].Suspect)
	assert.EqualValues(t, 1, r.Blocked, "the Admit refusal above is counted")

	require.NoError(t, g.Lift(context.Background(), r.Subject))
	assert.False(t, g.Admit(office, "carol", "") == ban.Blocked)
	assert.ErrorIs(t, g.Lift(context.Background(), r.Subject), ban.ErrNotFound)
}

// A block a device that never logged in caused (a mistyped password on a
// new softphone, or a neighbour behind the NAT guessing) does not cut off
// the account's phone that logs in there; a block the known phone caused
// itself (an old password) holds it too.
func TestGuardBlockSparesKnownDevices(t *testing.T) {
	c := newClock()
	g := newGuard(t, c, ban.Options{})
	s := site{t, g, c}
	office := addr("198.51.100.50")
	s.dev(healthy, deskUA, "REGISTER", "alice", 200)
	s.dev(healthy+1, deskUA, "REGISTER", "carol", 200)
	for range 5 {
		s.dev(suspect, softUA, "REGISTER", "carol", 403)
	}
	r, ok := g.Record(sub("carol@198.51.100.50"))
	require.True(t, ok)
	assert.Equal(t, ban.CauseTypo, r.Diagnosis.Cause)
	assert.Equal(t, ban.Blocked, g.Admit(office, "carol", softUA), "the device with the typo")
	assert.Equal(t, ban.Blocked, g.Admit(office, "carol", "curl/8.0"), "any other new device")
	assert.Equal(t, ban.Admitted, g.Admit(office, "carol", deskUA), "carol's phone that logs in")

	// A neighbour who copies the phone's User-Agent gets one proven guess:
	// then the block holds the phone too. A forged datagram does not.
	s.c.Advance(time.Second)
	forged := detect.Event{Source: netip.AddrPortFrom(office, 6000), Transport: "udp", Method: "REGISTER",
		Account: "carol", Credentials: true, Status: 403, UserAgent: deskUA}
	require.NoError(t, g.Observe(context.Background(), &forged))
	assert.Equal(t, ban.Admitted, g.Admit(office, "carol", deskUA), "an unproven failure changes nothing")
	s.dev(6000, deskUA, "REGISTER", "carol", 403)
	assert.Equal(t, ban.Blocked, g.Admit(office, "carol", deskUA), "a proven failure under the phone's name")
	require.NoError(t, g.Lift(context.Background(), r.Subject))

	// The desk phone itself now fails (its password changed): it is the
	// device to fix, and the block holds it.
	for range 5 {
		s.dev(healthy+1, deskUA, "REGISTER", "carol", 403)
	}
	r, ok = g.Record(sub("carol@198.51.100.50"))
	require.True(t, ok)
	assert.Equal(t, ban.CauseOutdated, r.Diagnosis.Cause)
	assert.Equal(t, ban.Blocked, g.Admit(office, "carol", deskUA))
}

func TestGuardStaleDevice(t *testing.T) {
	c := newClock()
	g := newGuard(t, c, ban.Options{})
	stale := req{from: "203.0.113.20:5060", account: "test", creds: true, status: 404}
	for range 5 {
		require.NoError(t, send(t, g, c, stale))
		c.Advance(59 * time.Second)
	}
	home := addr("203.0.113.20")
	assert.False(t, g.Banned(home))
	assert.True(t, g.Admit(home, "test", "") == ban.Blocked)
	r, ok := g.Record(detect.Subject{Prefix: netip.MustParsePrefix("203.0.113.20/32"), Account: "test"})
	require.True(t, ok)
	assert.Equal(t, detect.StaleAccount, r.Cause)
	assert.Equal(t, ban.CauseTestDevice, r.Diagnosis.Cause)
	assert.Equal(t, time.Minute, r.Evidence.Interval)
}

func TestGuardIPv6Prefix(t *testing.T) {
	c := newClock()
	g := newGuard(t, c, ban.Options{})
	for i := range 5 {
		require.NoError(t, send(t, g, c, req{from: fmt.Sprintf("[2001:db8:7:7::%x]:5060", i+1), account: "1000", creds: true, status: 403}))
	}
	assert.True(t, g.Banned(addr("2001:db8:7:7:ffff::1")), "the whole /64 is banned")
	assert.False(t, g.Banned(addr("2001:db8:7:8::1")))
	r := g.Bans()
	require.Len(t, r, 1)
	assert.Equal(t, "2001:db8:7:7::/64", r[0].Subject.String())
}

func TestGuardAllowList(t *testing.T) {
	c := newClock()
	g := newGuard(t, c, ban.Options{Policy: ban.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}})
	require.NoError(t, send(t, g, c, times(20, req{from: "10.1.2.3:5060", account: "x", creds: true, status: 403})...))
	assert.False(t, g.Banned(addr("10.1.2.3")))
	assert.Empty(t, g.Bans())
}

// failing is an enforcer whose kernel has gone away.
type failing struct{ calls int }

func (f *failing) Ban(context.Context, netip.Prefix, time.Time) error {
	f.calls++
	return errors.New("netlink: operation not permitted")
}
func (f *failing) Unban(context.Context, netip.Prefix) error { return errors.New("netlink: gone") }

func TestGuardFailingEnforcer(t *testing.T) {
	c := newClock()
	bad := &failing{}
	g := newGuard(t, c, ban.Options{Enforcers: []enforce.Enforcer{bad}})
	err := send(t, g, c, times(5, req{from: "192.0.2.9:5060", account: "1", creds: true, status: 403})...)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "operation not permitted")
	assert.Equal(t, 1, bad.calls)
	assert.True(t, g.Banned(addr("192.0.2.9")), "the ban holds in memory all the same")
	r := g.Bans()
	require.Len(t, r, 1)
	assert.Contains(t, r[0].EnforceError, "operation not permitted")
	err = g.Lift(context.Background(), r[0].Subject)
	assert.ErrorContains(t, err, "gone")
	assert.False(t, g.Banned(addr("192.0.2.9")), "lifted in memory even so")
}

func TestGuardMaxBans(t *testing.T) {
	c := newClock()
	g := newGuard(t, c, ban.Options{Policy: ban.Policy{MaxBans: 2}})
	for i := range 3 {
		ev := detect.Event{Source: netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}), 5060), Method: "OPTIONS", Status: 200, UserAgent: "sipcli/v1.8"}
		err := g.Observe(context.Background(), &ev)
		if i < 2 {
			require.NoError(t, err)
		} else {
			require.ErrorIs(t, err, ban.ErrTooManyBans)
		}
	}
	assert.Len(t, g.Bans(), 2)
}

func TestGuardBadInput(t *testing.T) {
	c := newClock()
	g := newGuard(t, c, ban.Options{})
	assert.ErrorIs(t, g.Observe(context.Background(), &detect.Event{}), detect.ErrInvalidEvent)
	assert.False(t, g.Banned(netip.Addr{}))
	assert.Equal(t, ban.Admitted, g.Admit(netip.Addr{}, "", ""))
	_, ok := g.Record(detect.Subject{})
	assert.False(t, ok)
	for _, p := range []ban.Policy{
		{Factor: 0.5},
		{MaxBans: -1},
		{BanTime: map[detect.Cause]time.Duration{detect.Scanner: -time.Second}},
		{Allow: []netip.Prefix{{}}},
		{Limits: detect.Limits{V6Prefix: 200}},
	} {
		_, err := ban.New(ban.Options{Policy: p})
		assert.Error(t, err, "%+v", p)
	}
	_, err := ban.New(ban.Options{Detectors: []detect.Detector{nil}})
	assert.Error(t, err)
}

func TestGuardCustomDetector(t *testing.T) {
	c := newClock()
	spam := detect.Func(func(ev *detect.Event, dst []detect.Finding) []detect.Finding {
		if ev.Method != "MESSAGE" {
			return dst
		}
		return append(dst, detect.Finding{Cause: detect.CauseCustom, Subject: detect.SubjectOf(ev.Source.Addr()),
			Evidence: detect.Evidence{Count: 1, Detail: "MESSAGE spam"}})
	})
	g := newGuard(t, c, ban.Options{Detectors: []detect.Detector{spam}, Policy: ban.Policy{BanTime: map[detect.Cause]time.Duration{detect.CauseCustom: time.Minute}}})
	require.NoError(t, send(t, g, c, req{from: "192.0.2.44:5060", method: "MESSAGE", status: 202}))
	r := g.Bans()
	require.Len(t, r, 1)
	assert.Equal(t, "cause-64", r[0].Cause.String())
	assert.Equal(t, time.Minute, r[0].Until.Sub(r[0].Since))
}

func TestGuardConcurrent(t *testing.T) {
	c := newClock()
	g := newGuard(t, c, ban.Options{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 500 {
				ev := detect.Event{Source: netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, byte(w), byte(i % 50)}), 5060),
					Method: "REGISTER", Account: "a", Credentials: true, Status: 403}
				_ = g.Observe(context.Background(), &ev)
				g.Banned(ev.Source.Addr())
				g.Admit(ev.Source.Addr(), "a", "")
				if i%100 == 0 {
					g.Bans()
					_, _ = g.Expire(context.Background(), c.Now())
				}
			}
		})
	}
	wg.Wait()
	assert.Len(t, g.Bans(), 8*50, "every source banned exactly once")
}

func TestGuardOnBan(t *testing.T) {
	c := newClock()
	var got []ban.Record
	bad := &failing{}
	g := newGuard(t, c, ban.Options{Enforcers: []enforce.Enforcer{bad}, OnBan: func(r ban.Record) { got = append(got, r) }})
	_ = send(t, g, c, times(8, req{from: "203.0.113.5:5060", account: "100", creds: true, status: 403})...)
	require.Len(t, got, 1, "once per ban, not per event after it")
	assert.Equal(t, "203.0.113.5", got[0].Subject.String())
	assert.Equal(t, detect.BadCredentials, got[0].Cause)
	assert.Contains(t, got[0].EnforceError, "operation not permitted", "called after the enforcers")
}

func TestTallies(t *testing.T) {
	c := newClock()
	g := newGuard(t, c, ban.Options{})
	guess := req{from: "203.0.113.5:5060", account: "100", creds: true, status: 403}
	require.NoError(t, send(t, g, c, times(5, guess)...))
	guess.from, guess.account = "203.0.113.6:5060", "101" // one account from two would guard it
	require.NoError(t, send(t, g, c, times(5, guess)...))
	want := []ban.Tally{{Scope: ban.ScopeAddress, Cause: detect.BadCredentials, Active: 2, Made: 2}}
	assert.Equal(t, want, g.Tallies())
	require.NoError(t, g.Lift(context.Background(), detect.SubjectOf(addr("203.0.113.5"))))
	want[0].Active = 1
	assert.Equal(t, want, g.Tallies())
	c.Advance(48 * time.Hour)
	n, err := g.Expire(context.Background(), c.Now())
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	want[0].Active = 0
	assert.Equal(t, want, g.Tallies())
	st := g.Stats()
	assert.Equal(t, [2]int64{1, 1}, [2]int64{st.Lifted, st.Expired})
}
