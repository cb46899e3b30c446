package ban_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/bantest"
	"github.com/sipban/sipban/detect"
	"github.com/sipban/sipban/enforce"
	"github.com/sipban/sipban/internal/syncbuf"
)

const phoneUA = "Grandstream GXP2170 1.0.11.23" // what send's events carry

// A ban made again after the old one ran out, but before Expire cleared it,
// must survive that Expire: the stale heap entry once deleted the new record
// and lifted the address.
func TestBanAgainBeforeExpiry(t *testing.T) {
	c := newClock()
	g := newGuard(t, c, ban.Options{})
	guess := req{from: "203.0.113.40:5060", account: "1", creds: true, status: 403}
	require.NoError(t, send(t, g, c, times(5, guess)...))
	require.True(t, g.Banned(addr("203.0.113.40")))
	c.Advance(61 * time.Minute) // the first ban (1 h) has ended; Run has not looked yet
	require.NoError(t, send(t, g, c, times(5, guess)...))
	n, err := g.Expire(context.Background(), c.Now())
	require.NoError(t, err)
	assert.Equal(t, 0, n, "the ended ban was replaced, not left to expire")
	assert.True(t, g.Banned(addr("203.0.113.40")), "the new ban holds")
	r, ok := g.Record(detect.SubjectOf(addr("203.0.113.40")))
	require.True(t, ok)
	assert.Equal(t, 1, r.Level)
}

func TestAddressGuard(t *testing.T) {
	c := newClock()
	g := newGuard(t, c, ban.Options{})
	const office = "192.0.2.80"
	require.NoError(t, send(t, g, c, req{from: office + ":5062", account: "alice", creds: true, status: 200}))
	var guesses []req
	for a := range 20 {
		guesses = append(guesses, times(5, req{from: office + ":6000", account: fmt.Sprint("user", a), creds: true, status: 403})...)
	}
	evaluated := 0
	for _, r := range guesses {
		if g.Admit(addr(office), r.account, phoneUA) != ban.Admitted {
			continue
		}
		evaluated++
		require.NoError(t, send(t, g, c, r))
	}
	assert.LessOrEqual(t, evaluated, 10)
	assert.False(t, g.Banned(addr(office)), "the office is guarded, not banned")
	assert.Equal(t, ban.Admitted, g.Admit(addr(office), "alice", phoneUA), "its known phone keeps working")
	assert.Equal(t, ban.Guarded, g.Admit(addr(office), "bob", "Yealink SIP-T46S"), "a stranger is refused")
	r, ok := g.Record(detect.SubjectOf(addr(office)))
	require.True(t, ok)
	assert.Equal(t, ban.ScopeGuard, r.Scope)
	assert.Positive(t, r.Blocked)
	assert.True(t, r.Diagnosis.Attack)

	// Lifted, a new device of the customer's enrols at its first login.
	require.NoError(t, g.Lift(context.Background(), r.Subject))
	require.NoError(t, send(t, g, c, req{from: office + ":5064", account: "bob", creds: true, status: 200}))
	require.NoError(t, send(t, g, c, times(3, req{from: office + ":6000", account: "user30", creds: true, status: 403})...))
	assert.Equal(t, ban.Admitted, g.Admit(addr(office), "bob", phoneUA))
}

func TestAccountGuard(t *testing.T) {
	c := newClock()
	g := newGuard(t, c, ban.Options{})
	require.NoError(t, send(t, g, c, req{from: "192.0.2.90:5062", account: "alice", creds: true, status: 200}))
	evaluated, refused := 0, 0
	for a := range 20 {
		from := fmt.Sprintf("198.51.100.%d", a+1)
		for range 3 {
			ev := detect.Event{Source: netip.MustParseAddrPort(from + ":5060"), Transport: "udp", Method: "REGISTER",
				Account: "alice", Credentials: true, Proven: true, UserAgent: "sipcracker"}
			c.Advance(time.Second)
			if g.Banned(ev.Source.Addr()) {
				continue
			}
			switch g.Admit(ev.Source.Addr(), ev.Account, ev.UserAgent) {
			case ban.Admitted:
				evaluated++
				ev.Status = 403
			case ban.Guarded:
				refused++
				ev.Status, ev.Guarded, ev.Proven = 403, true, false
			}
			require.NoError(t, g.Observe(context.Background(), &ev))
		}
	}
	assert.Equal(t, 5, evaluated, "guarded once two addresses failed five times")
	assert.Equal(t, ban.Admitted, g.Admit(addr("192.0.2.90"), "alice", phoneUA), "alice's own phone still logs in")
	r, ok := g.Record(detect.Subject{Account: "alice"})
	require.True(t, ok)
	assert.Equal(t, ban.ScopeGuard, r.Scope)
	assert.Equal(t, "alice@*", r.Subject.String())
	assert.NotEmpty(t, r.Evidence.Addresses)
	for _, b := range g.Bans() {
		if b.Scope == ban.ScopeAddress {
			assert.Equal(t, detect.BadCredentials, b.Cause)
		}
	}
	// A source that keeps trying a guarded account is banned at its fifth
	// refusal, each counted once: refused unchecked, it learns nothing.
	const bot = "198.51.100.99"
	for i := range 5 {
		require.False(t, g.Banned(addr(bot)), "after %d refusals", i)
		require.Equal(t, ban.Guarded, g.Admit(addr(bot), "alice", "sipcracker"))
		c.Advance(time.Second)
		ev := detect.Event{Source: netip.MustParseAddrPort(bot + ":5060"), Transport: "udp", Method: "REGISTER",
			Account: "alice", Credentials: true, Status: 403, Guarded: true, UserAgent: "sipcracker"}
		require.NoError(t, g.Observe(context.Background(), &ev))
	}
	r, ok = g.Record(detect.SubjectOf(addr(bot)))
	require.True(t, ok, "banned at the fifth refusal")
	assert.Equal(t, 5, r.Evidence.Count)
	t.Log(r.Evidence.Detail, "|", r.Diagnosis.Summary)
}

// One forged datagram with a scanner's name, or any number of failures over
// nonces never issued, from a customer's address stop none of its devices.
func TestSpoofedEvidenceNeverCutsACustomer(t *testing.T) {
	c := newClock()
	g := newGuard(t, c, ban.Options{})
	const home = "192.0.2.95"
	require.NoError(t, send(t, g, c, req{from: home + ":5062", account: "alice", creds: true, status: 200}))
	for i := range 500 {
		c.Advance(time.Second)
		evs := []detect.Event{
			{Source: netip.MustParseAddrPort(home + ":5070"), Method: "OPTIONS", UserAgent: "friendly-scanner"},
			{Source: netip.MustParseAddrPort(home + ":5071"), Method: "REGISTER", Account: fmt.Sprint("u", i%7), Credentials: true, Status: 403},
			{Source: netip.MustParseAddrPort(home + ":5072"), Malformed: "no Via"},
		}
		for i := range evs {
			require.NoError(t, g.Observe(context.Background(), &evs[i]))
		}
	}
	assert.False(t, g.Banned(addr(home)))
	assert.Equal(t, ban.Admitted, g.Admit(addr(home), "alice", phoneUA))
	assert.Empty(t, g.Bans())
}

// Evidence without proof at an address where a device logged in, but not
// within the trust window (a phone off for the night), guards the address:
// the phone works when it wakes, strangers are refused, nothing is banned.
// A forged source can copy the phone's account and User-Agent, so those
// guard too.
func TestUnprovenEvidenceGuardsAKnownAddress(t *testing.T) {
	forged := map[string][]detect.Event{
		"a scanner's name": {{Method: "OPTIONS", Status: 200, UserAgent: "friendly-scanner"}},
		"junk":             slices.Repeat([]detect.Event{{Malformed: "no Via"}}, 10),
		"the phone's own failures": slices.Repeat([]detect.Event{{Method: "REGISTER", Account: "alice", Credentials: true,
			Status: 403, UserAgent: phoneUA}}, 5),
	}
	for name, evs := range forged {
		t.Run(name, func(t *testing.T) {
			c := newClock()
			g := newGuard(t, c, ban.Options{})
			const home, elsewhere = "192.0.2.96", "192.0.2.97"
			require.NoError(t, send(t, g, c, req{from: home + ":5062", account: "alice", creds: true, status: 200}))
			c.Advance(8 * time.Hour)
			forge := func(from string) {
				t.Helper()
				for _, ev := range evs {
					c.Advance(time.Second)
					ev.Source, ev.Transport = netip.MustParseAddrPort(from+":5070"), "udp"
					require.NoError(t, g.Observe(context.Background(), &ev))
				}
			}
			forge(home)
			assert.False(t, g.Banned(addr(home)))
			r, ok := g.Record(detect.SubjectOf(addr(home)))
			require.True(t, ok, "the address is guarded")
			assert.Equal(t, ban.ScopeGuard, r.Scope)
			assert.False(t, r.Proven)
			assert.Contains(t, r.Diagnosis.Summary, "a UDP source can be forged, the address is guarded, not banned")
			assert.Contains(t, r.Diagnosis.Advice[0], "nothing to fix")
			assert.Equal(t, ban.CauseAttack, r.Diagnosis.Cause)
			assert.Equal(t, 0.5, r.Diagnosis.Confidence, "it may be forged, or a device of the customer's")
			de, ok := g.Explain(r.Subject, "de")
			require.True(t, ok)
			assert.Contains(t, de.Diagnosis.Summary, "Ohne Beweis, dass es von dort kam")
			assert.NotContains(t, de.Diagnosis.Summary, r.Evidence.Detail, "the detector's English is not quoted")
			assert.Equal(t, ban.Admitted, g.Admit(addr(home), "alice", phoneUA), "the phone logs in when it wakes")
			assert.Equal(t, ban.Guarded, g.Admit(addr(home), "bob", "Zoiper rv2.10.20.5"), "a stranger is refused")

			forge(elsewhere)
			assert.True(t, g.Banned(addr(elsewhere)), "the same datagrams ban an address where no one logged in")
		})
	}
}

func TestFullTable(t *testing.T) {
	c := newClock()
	logs := new(syncbuf.Buffer)
	g, err := ban.New(ban.Options{Now: c.Now, Policy: ban.Policy{MaxBans: 100},
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelError}))})
	require.NoError(t, err)
	scan := func(i int) error {
		ev := detect.Event{Source: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 5060),
			Method: "OPTIONS", UserAgent: "friendly-scanner"}
		return g.Observe(context.Background(), &ev)
	}
	// Forged scanner datagrams fill the table, then keep coming.
	for i := range 100 {
		require.NoError(t, scan(i))
	}
	refused := 0
	for i := 100; i < 1100; i++ {
		c.Advance(time.Millisecond)
		if err := scan(i); err != nil {
			require.ErrorIs(t, err, ban.ErrTooManyBans)
			refused++
		}
	}
	assert.Equal(t, 1000, refused, "unproven newcomers are refused at the bound")
	lines := strings.Count(logs.String(), "table is full")
	assert.Equal(t, 1, lines, "one line for the interval, with a count")

	// A fresh attacker who reads our answers is still banned at the threshold.
	guess := req{from: "203.0.113.60:5060", account: "1", creds: true, status: 403}
	require.NoError(t, send(t, g, c, times(4, guess)...))
	assert.False(t, g.Banned(addr("203.0.113.60")))
	require.NoError(t, send(t, g, c, guess))
	assert.True(t, g.Banned(addr("203.0.113.60")))
	assert.Len(t, g.Bans(), 100)

	assert.Contains(t, logs.String(), "refused=1 ", "the first refusal is logged at once")
	// The rest of the interval's refusals are logged when it ends, by Run,
	// even if no more come.
	c.Advance(2 * time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	require.NoError(t, bantest.WaitUntil(wctx, func() bool {
		return strings.Contains(logs.String(), "refused=999 ")
	}), "Run never logged the pending refusals")
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	st := g.Stats()
	assert.EqualValues(t, 1000, st.Refused)
	assert.EqualValues(t, 1, st.Evicted, "the proven guesser evicted one forged ban")
	assert.Equal(t, 100, st.Records)
}

func TestAggregate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pol    ban.Policy
		froms  []string
		banned string // the aggregate, or "" for none
	}{
		{"v6 /48", ban.Policy{}, []string{"2001:db8:7:1::9", "2001:db8:7:2::9", "2001:db8:7:3::9", "2001:db8:7:4::9"}, "2001:db8:7::/48"},
		{"v6 allow-listed inside", ban.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("2001:db8:7:ff::1/128")}},
			[]string{"2001:db8:7:1::9", "2001:db8:7:2::9", "2001:db8:7:3::9", "2001:db8:7:4::9"}, ""},
		{"v4 off by default", ban.Policy{}, []string{"198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4"}, ""},
		{"v4 /24 when asked", ban.Policy{Aggregate4: 3}, []string{"198.51.100.1", "198.51.100.2", "198.51.100.3"}, "198.51.100.0/24"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			g := newGuard(t, c, ban.Options{Policy: tc.pol})
			for i, from := range tc.froms {
				ap := netip.AddrPortFrom(netip.MustParseAddr(from), 5060).String()
				require.NoError(t, send(t, g, c, times(5, req{from: ap, account: fmt.Sprint(i), creds: true, status: 403})...))
			}
			if tc.banned == "" {
				assert.Len(t, g.Bans(), len(tc.froms), "the address bans alone")
				return
			}
			// The same number of bans without proof (forged scanner
			// datagrams) in another /48 or /24 widens nothing.
			before := len(g.Bans())
			for _, from := range tc.froms {
				a := netip.MustParseAddr(from)
				b, i := a.AsSlice(), 4 // another /48
				if a.Is4() {
					i = 1 // another /24
				}
				b[i] ^= 0x55
				a, _ = netip.AddrFromSlice(b)
				ev := detect.Event{Source: netip.AddrPortFrom(a, 5060), Method: "OPTIONS", UserAgent: "friendly-scanner"}
				require.NoError(t, g.Observe(context.Background(), &ev))
			}
			assert.Len(t, g.Bans(), before+len(tc.froms), "unproven bans are not aggregated")
			sub, err := detect.ParseSubject(tc.banned)
			require.NoError(t, err)
			r, ok := g.Record(sub)
			require.True(t, ok, "aggregate %s banned", tc.banned)
			assert.Equal(t, ban.ScopeAddress, r.Scope)
			assert.Equal(t, len(tc.froms), r.Evidence.Count)
			other := sub.Prefix.Addr().Next().Next()
			assert.True(t, g.Banned(other), "%v inside the aggregate", other)
		})
	}
}

func TestPage(t *testing.T) {
	c := newClock()
	g := newGuard(t, c, ban.Options{})
	for i := range 25 {
		ev := detect.Event{Source: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 2, 0, byte(i)}), 5060), Method: "OPTIONS", UserAgent: "sipvicious"}
		require.NoError(t, g.Observe(context.Background(), &ev))
	}
	var all []string
	var after detect.Subject
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10)
		recs, more := g.Page(after, 10)
		for _, r := range recs {
			all = append(all, r.Subject.String())
		}
		if !more {
			break
		}
		after = recs[len(recs)-1].Subject
	}
	require.Len(t, all, 25)
	assert.Equal(t, "10.2.0.0", all[0])
	assert.Equal(t, "10.2.0.24", all[24])
	assert.IsIncreasing(t, func() []int {
		out := make([]int, len(all))
		for i, s := range all {
			out[i] = int(netip.MustParseAddr(s).As4()[3])
		}
		return out
	}())
	recs, more := g.Page(detect.Subject{}, 0)
	assert.Empty(t, recs)
	assert.False(t, more)
}

// stuck is a kernel enforcer whose Ban hangs until released, ignoring ctx.
type stuck struct {
	*enforce.Memory
	release chan struct{}
}

func (s *stuck) Ban(ctx context.Context, p netip.Prefix, until time.Time) error {
	<-s.release
	return s.Memory.Ban(ctx, p, until)
}

// A stuck kernel enforcer cannot stall SIP handling: the ban holds in memory
// at once, Observe returns, and the kernel gets the ban once it answers.
func TestStuckEnforcer(t *testing.T) {
	c := newClock()
	k := &stuck{Memory: enforce.NewMemory(c.Now), release: make(chan struct{})}
	g := newGuard(t, c, ban.Options{Enforcers: []enforce.Enforcer{k}, EnforceTimeout: 20 * time.Millisecond})
	for _, from := range []string{"203.0.113.70:5060", "203.0.113.71:5060"} {
		err := send(t, g, c, times(5, req{from: from, account: from, creds: true, status: 403})...)
		require.ErrorIs(t, err, context.DeadlineExceeded, "Observe returned while the kernel hangs")
		a := netip.MustParseAddrPort(from).Addr()
		assert.True(t, g.Banned(a), "in memory at once")
		r, _ := g.Record(detect.SubjectOf(a))
		assert.NotEmpty(t, r.EnforceError)
	}
	assert.GreaterOrEqual(t, g.Stats().EnforceErrors, int64(2))
	close(k.release)
	_, err := g.Resync(context.Background())
	require.NoError(t, err)
	for _, a := range []string{"203.0.113.70", "203.0.113.71"} {
		assert.True(t, k.Blocked(addr(a)), "%s reached the kernel", a)
		r, _ := g.Record(detect.SubjectOf(addr(a)))
		assert.Empty(t, r.EnforceError)
	}
}

// A stranger failing at an address with a recent proven login guards it,
// whatever account it tries, so the phone there keeps working; the phone
// itself failing (its password changed) is banned as before.
func TestStrangerAtATrustedAddress(t *testing.T) {
	for _, tc := range []struct {
		name, ua string
		scope    string
	}{{"stranger on the phone's own account", "Zoiper rv2.10.20.5", ban.ScopeGuard}, {"the phone itself", phoneUA, ban.ScopeAddress}} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			g := newGuard(t, c, ban.Options{})
			const home = "192.0.2.99"
			require.NoError(t, send(t, g, c, req{from: home + ":5062", account: "alice", creds: true, status: 200}))
			for range 5 {
				c.Advance(time.Second)
				ev := detect.Event{Source: netip.MustParseAddrPort(home + ":5080"), Transport: "udp", Method: "REGISTER",
					Account: "alice", Credentials: true, Proven: true, Status: 403, UserAgent: tc.ua}
				require.NoError(t, g.Observe(context.Background(), &ev))
			}
			r, ok := g.Record(detect.SubjectOf(addr(home)))
			require.True(t, ok)
			assert.Equal(t, tc.scope, r.Scope)
			if tc.scope == ban.ScopeGuard {
				assert.False(t, g.Banned(addr(home)))
				assert.Equal(t, ban.Admitted, g.Admit(addr(home), "alice", phoneUA), "the phone keeps working")
				assert.Equal(t, ban.Guarded, g.Admit(addr(home), "alice", tc.ua))
			}
		})
	}
}

// An address ban that ended, not yet expired by Run, and replaced by a guard
// on the same address must not leave the address banned in memory.
func TestGuardReplacesAnEndedBan(t *testing.T) {
	c := newClock()
	g := newGuard(t, c, ban.Options{})
	const office = "192.0.2.110"
	// Banned first, with no one logged in there yet.
	require.NoError(t, send(t, g, c, times(5, req{from: office + ":6000", account: "x1", creds: true, status: 403})...))
	require.True(t, g.Banned(addr(office)))
	c.Advance(61 * time.Minute) // the 1-hour ban has ended; Expire has not run
	require.NoError(t, send(t, g, c, req{from: office + ":5062", account: "alice", creds: true, status: 200}))
	for a := range 3 {
		require.NoError(t, send(t, g, c, times(2, req{from: office + ":6000", account: fmt.Sprint("y", a), creds: true, status: 403})...))
	}
	r, ok := g.Record(detect.SubjectOf(addr(office)))
	require.True(t, ok)
	require.Equal(t, ban.ScopeGuard, r.Scope)
	assert.False(t, g.Banned(addr(office)), "the guard replaced the ended ban, in memory too")
	assert.Equal(t, ban.Admitted, g.Admit(addr(office), "alice", phoneUA))
}
