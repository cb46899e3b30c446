package registrar_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/bantest"
	"github.com/sipban/sipban/detect"
	"github.com/sipban/sipban/internal/fakeclock"
	"github.com/sipban/sipban/internal/registrar"
	"github.com/sipban/sipban/internal/syncbuf"
)

// These tests measure what "Trust without holes" asks of the registrar over
// real UDP: however an attacker spreads, hides behind a customer or forges a
// customer's address, few of its guesses are evaluated, none of them finds
// the weak password at its 11th guess, and the customer's phone is answered
// 200 every time it registers.

// weakAt is where the weak password stands in an attacker's guess list: the
// 11th guess, the first after the ten the library allows at most.
const weakAt = 10

// startWith is start with a Guard made from opts, whose Logger and Now are
// the testbed's.
func startWith(t *testing.T, opts ban.Options) *testbed {
	t.Helper()
	return startAccounts(t, opts, demoAccounts(t))
}

// startAccounts is startWith serving the accounts a.
func startAccounts(t *testing.T, opts ban.Options, a registrar.Accounts) *testbed {
	t.Helper()
	logs := new(syncbuf.Buffer)
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	})
	tb := &testbed{clock: fakeclock.New(time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC))}
	dir := registrar.NewDirectory(a)
	opts.Logger, opts.Now, opts.Directory = log, tb.clock.Now, dir
	var err error
	tb.g, err = ban.New(opts)
	require.NoError(t, err)
	tb.srv, err = registrar.New(registrar.Config{Directory: dir, Guard: tb.g, Logger: log})
	require.NoError(t, err)
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	tb.addr = conn.LocalAddr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tb.srv.Serve(ctx, conn) }()
	t.Cleanup(func() {
		cancel()
		assert.ErrorIs(t, <-done, context.Canceled)
	})
	return tb
}

// password is the right password of a demo account.
func password(account string) string { return account + "-secret" }

// guessList returns n passwords, all wrong but the one at weakAt, which is
// weak's: a list of common passwords holds the weak one somewhere.
func guessList(n int, weak string) []string {
	list := make([]string, n)
	for i := range list {
		list[i] = fmt.Sprintf("guess-%d", i)
	}
	list[weakAt] = password(weak)
	return list
}

// phone is a customer's device registering with its right password. Every
// registration must be answered 200.
type phone struct {
	c       *bantest.Client
	account string
	n       int // registrations, all answered 200
}

// phone dials from local and registers account once.
func (tb *testbed) phone(t *testing.T, local, account string) *phone {
	t.Helper()
	p := &phone{c: tb.client(t, local), account: account}
	p.register(t)
	return p
}

func (p *phone) register(t *testing.T) {
	t.Helper()
	st, err := p.c.Register(ctx, p.account, password(p.account))
	require.NoError(t, err, "registration %d of %s's phone", p.n+1, p.account)
	require.Equal(t, 200, st, "registration %d of %s's phone", p.n+1, p.account)
	p.n++
}

// guesses tallies an attacker's registrations, one attempt per guess.
type guesses struct{ bantest.Result }

// try registers account with password from c, once, and returns the
// status answered, 0 for none.
func (g *guesses) try(t *testing.T, c *bantest.Client, account, password string) int {
	t.Helper()
	st, err := c.Register(ctx, account, password)
	g.Sent++
	if errors.Is(err, bantest.ErrNoAnswer) {
		g.Unanswered++
		return 0
	}
	require.NoError(t, err)
	require.Contains(t, []int{200, 403}, st, "guess %d", g.Sent)
	g.Answered++
	if g.Statuses == nil {
		g.Statuses = make(map[int]int)
	}
	g.Statuses[st]++
	return st
}

// line reports the tally, of which evaluated were checked by the server:
// "5 evaluated, 55 refused unchecked, 0 silenced, 0 found".
func (g *guesses) line(evaluated int) string {
	return fmt.Sprintf("%d evaluated, %d refused unchecked, %d silenced, %d found",
		evaluated, g.Answered-evaluated, g.Unanswered, g.Statuses[200])
}

// scan sends n scanner requests from local, which no server answers; they
// are judged before Scanner returns, or soon after.
func (tb *testbed) scan(t *testing.T, local string, n int) {
	t.Helper()
	d := bantest.Dialer{Timeout: time.Millisecond} // nothing will come
	c, err := d.Dial(ctx, local, tb.addr)
	require.NoError(t, err)
	defer c.Close()
	res, err := bantest.Scanner(ctx, c, n)
	require.NoError(t, err)
	require.Equal(t, n, res.Unanswered, "a scanner is never answered: %v", res)
}

// TestTrustDistributed: 20 addresses guess one account's password, 3 times
// each. The account is guarded once 5 guesses from 2 addresses failed; its
// owner's phone, a known device, keeps registering.
func TestTrustDistributed(t *testing.T) {
	t.Parallel()
	tb := start(t)
	const target = "user7"
	home := tb.phone(t, "127.0.2.1:0", target)
	list := guessList(60, target)
	var g guesses
	evaluated := 0
	for a := range 20 {
		c := tb.client(t, fmt.Sprintf("127.0.3.%d:0", a+1))
		for i := range 3 {
			tb.clock.Advance(time.Second)
			g.try(t, c, target, list[3*a+i])
		}
		evaluated += tb.srv.Checked(c.LocalAddr().Addr())
		home.register(t)
	}
	bans := 0
	for _, r := range tb.g.Bans() {
		if r.Scope == ban.ScopeAddress {
			bans++
		}
	}
	t.Logf("distributed: 20 addresses × 3 guesses: %s; %d of the addresses banned; the phone registered %d/%d",
		g.line(evaluated), bans, home.n, home.n)
	assert.Zero(t, g.Statuses[200], "the weak password was found")
	assert.LessOrEqual(t, evaluated, 10, "guesses evaluated for %s", target)
	assert.Equal(t, evaluated+home.n, tb.srv.CheckedAccount(target), "the phone's logins and the guesses")
	rec, ok := tb.g.Record(detect.Subject{Account: target})
	require.True(t, ok, "no guard on %s; records: %+v", target, tb.g.Bans())
	assert.Equal(t, ban.ScopeGuard, rec.Scope)
	assert.Equal(t, detect.BadCredentials, rec.Cause)
	assert.Positive(t, rec.Blocked)
	assert.False(t, tb.g.Banned(home.c.LocalAddr().Addr()))
}

// TestTrustBehindPhone: a guesser behind the NAT of a working phone (its
// address, another port) tries 5 passwords for each of 20 accounts. The
// address is guarded, not banned: the phone keeps registering, the guesser
// is refused unchecked. Logging in with an account of its own first gains
// the guesser nothing.
//
// A guessed account whose bits in detect's login mask cover alice's once
// made the 5th failure ban the address, 1 run in 200: the Guard now guards a
// trusted address whenever the failing device is not one it knows.
func TestTrustBehindPhone(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, local string
		own         string // the guesser's own account, logged in first; "" for none
	}{
		{"stranger", "127.0.4.1:0", ""},
		{"logged in itself", "127.0.4.2:0", "bob"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tb := start(t)
			office := tb.phone(t, tt.local, "alice")
			addr := office.c.LocalAddr().Addr()
			c := tb.client(t, tt.local)
			require.Equal(t, addr, c.LocalAddr().Addr())
			require.NotEqual(t, office.c.LocalAddr().Port(), c.LocalAddr().Port())
			logins := 0
			if tt.own != "" {
				st, err := c.Register(ctx, tt.own, password(tt.own))
				require.NoError(t, err)
				require.Equal(t, 200, st)
				logins++
			}
			names := bantest.Names("user", 20)
			weak := names[weakAt/5]
			list := guessList(5*len(names), weak)
			var g guesses
			for i, pw := range list {
				tb.clock.Advance(time.Second)
				g.try(t, c, names[i/5], pw)
				if i%5 == 4 {
					office.register(t)
				}
			}
			evaluated := 0
			for _, name := range names {
				evaluated += tb.srv.CheckedAccount(name)
			}
			t.Logf("behind a phone, %s: 20 accounts × 5 guesses from the phone's address: %s; the phone registered %d/%d",
				tt.name, g.line(evaluated), office.n, office.n)
			assert.Zero(t, g.Statuses[200], "the weak password of %s was found", weak)
			assert.LessOrEqual(t, evaluated, 10, "guesses evaluated from %v", addr)
			assert.Equal(t, evaluated+office.n+logins, tb.srv.Checked(addr))
			assert.False(t, tb.g.Banned(addr), "the office is banned")
			rec, ok := tb.g.Record(detect.SubjectOf(addr))
			require.True(t, ok, "no guard on %v; records: %+v", addr, tb.g.Bans())
			assert.Equal(t, ban.ScopeGuard, rec.Scope)
			assert.Positive(t, rec.Blocked)
		})
	}
}

// TestTrustSpoofed: forged datagrams with a customer's address (its IP,
// another port) — a scanner's User-Agent, wrong passwords over nonces never
// issued to it — cost the customer nothing: no ban, no block, no guess
// evaluated, and its phone keeps registering.
func TestTrustSpoofed(t *testing.T) {
	t.Parallel()
	tb := start(t)
	const local = "127.0.5.1:0"
	home := tb.phone(t, local, "alice")
	addr := home.c.LocalAddr().Addr()

	tb.scan(t, local, 2) // OPTIONS, then REGISTER
	home.register(t)

	forger := dialUDP(t, local, tb.addr)
	// A nonce the attacker got at its own address, and one made up.
	chal := challenge(t, dialUDP(t, "127.0.5.9:0", tb.addr), "REGISTER", "alice")
	madeUp := *chal
	madeUp.Nonce = "bm90IGlzc3VlZA"
	forged := 0
	for i := range 60 {
		account := "alice"
		if i%3 == 2 {
			account = fmt.Sprint("user", i%40+1)
		}
		nonce := chal
		if i%2 == 1 {
			nonce = &madeUp
		}
		res, err := exchange(forger, "REGISTER", account, "User-Agent: Yealink SIP-T46U 108.86.0.20",
			authorization(t, nonce, tb.addr, "REGISTER", account, fmt.Sprint("guess-", i)))
		require.NoError(t, err)
		require.Equal(t, 401, res.StatusCode, "forged credentials %d got a verdict: %s", i, res)
		forged++
		if i%10 == 9 {
			home.register(t)
		}
	}
	t.Logf("spoofed: 2 scanner requests and %d forged credentials from the phone's address: %d evaluated, %d records; the phone registered %d/%d",
		forged, tb.srv.Checked(addr)-home.n, len(tb.g.Bans()), home.n, home.n)
	assert.Equal(t, home.n, tb.srv.Checked(addr), "only the phone's logins are checked")
	assert.False(t, tb.g.Banned(addr))
	_, blocked := tb.g.Record(detect.Subject{Prefix: netip.PrefixFrom(addr, 32), Account: "alice"})
	assert.False(t, blocked, "the customer's account is blocked at its address")
	assert.Empty(t, tb.g.Bans())
}

// TestTrustSpoofedAsleep: the same forged datagrams 8 hours after the
// phone's last registration (off for the night, its address's trust long
// lapsed) guard the address instead of banning it: the phone registers when
// it wakes, a new device there is refused unchecked, and nothing is banned.
// From an address where no device ever logged in, they ban.
func TestTrustSpoofedAsleep(t *testing.T) {
	t.Parallel()
	tb := start(t)
	const local, elsewhere = "127.0.5.2:0", "127.0.5.3:0"
	home := tb.phone(t, local, "alice")
	addr := home.c.LocalAddr().Addr()
	tb.clock.Advance(8 * time.Hour)

	tb.scan(t, local, 2)
	forger := dialUDP(t, local, tb.addr)
	madeUp := *challenge(t, dialUDP(t, "127.0.5.9:0", tb.addr), "REGISTER", "alice")
	madeUp.Nonce = "bm90IGlzc3VlZA"
	for i := range 20 {
		res, err := exchange(forger, "REGISTER", "alice", "User-Agent: "+bantest.DefaultUserAgent,
			authorization(t, &madeUp, tb.addr, "REGISTER", "alice", fmt.Sprint("guess-", i)))
		require.NoError(t, err)
		require.Contains(t, []int{401, 403}, res.StatusCode, "forged credentials %d got a verdict: %s", i, res)
	}
	var rec ban.Record
	require.Eventually(t, func() bool {
		var ok bool
		rec, ok = tb.g.Record(detect.SubjectOf(addr))
		return ok
	}, 5*time.Second, 10*time.Millisecond, "no guard on %v; records: %+v", addr, tb.g.Bans())
	assert.Equal(t, ban.ScopeGuard, rec.Scope)
	assert.False(t, rec.Proven)
	assert.False(t, tb.g.Banned(addr))
	home.register(t)
	stranger := tb.client(t, local)
	st, err := stranger.Register(ctx, "bob", password("bob"))
	require.NoError(t, err)
	assert.Equal(t, 403, st, "a new device at a guarded address")
	assert.Equal(t, home.n, tb.srv.Checked(addr), "only the phone's logins are checked")
	t.Logf("spoofed, the phone asleep 8h: 2 scanner requests and 20 forged credentials: guarded (%s), the phone registered %d/%d, a new device refused",
		rec.Cause, home.n, home.n)

	tb.scan(t, elsewhere, 2)
	other := netip.MustParseAddrPort(elsewhere).Addr()
	assert.Eventually(t, func() bool { return tb.g.Banned(other) }, 5*time.Second, 10*time.Millisecond,
		"the same scan from an address no device logged in at")
}

// TestTrustSlowGuesser: one address guesses 4 passwords every 13 minutes,
// under the 5 in 10 minutes that bans at once, for a day of the Guard's
// clock. It is banned within the day, no hour sees more than 10 of its
// guesses evaluated, and its 11th guess, the weak password, is never
// evaluated. The registrar's nonces use real time, so they stay fresh
// however far the Guard's clock runs.
//
// The 10th guess trips the 24-hour windows; the ban and the account guard
// they cause are held as long as that window (detect.Finding.Hold), so the
// 11th is not evaluated when a 1-hour ban would have ended.
func TestTrustSlowGuesser(t *testing.T) {
	t.Parallel()
	tb := start(t)
	const target = "user9"
	home := tb.phone(t, "127.0.6.1:0", target)
	c := tb.client(t, "127.0.6.2:0")
	addr := c.LocalAddr().Addr()
	const (
		every = 13 * time.Minute / 4
		day   = 24 * time.Hour
	)
	// The guesser moves down its list when answered; a guess met by
	// silence is tried again next time.
	list := guessList(int(day/every), target)
	var (
		g        guesses
		next     int
		hourly   [24]int
		firstBan time.Duration
		found    time.Duration // 0: never
		dropped  int
	)
	for i := range int(day / every) {
		elapsed := time.Duration(i) * every
		if i > 0 {
			tb.clock.Advance(every)
		}
		_, err := tb.g.Expire(ctx, tb.clock.Now()) // what Run does each second
		require.NoError(t, err)
		if i%8 == 0 {
			home.register(t)
		}
		if tb.g.Banned(addr) {
			if dropped == 0 {
				tb.settle(t, addr, 2*tb.srv.Checked(addr)) // a challenge and the guess; refusals reach no handler
				tb.assertSilenced(t, addr, func() (bantest.Result, error) { return bantest.HealthyPhone(ctx, c, target, list[next], 1) })
			}
			dropped++ // the read filter drops it unparsed: not sent, to keep the test fast
			continue
		}
		before := tb.srv.Checked(addr)
		if g.try(t, c, target, list[next]) == 200 && found == 0 {
			found = elapsed
		}
		next++
		if firstBan == 0 && tb.g.Banned(addr) {
			firstBan = elapsed // a guess at 0 cannot ban
		}
		hourly[elapsed/time.Hour] += tb.srv.Checked(addr) - before
	}
	evaluated := tb.srv.Checked(addr)
	t.Logf("slow: one guess per %v for 24 h: %s, %d dropped by bans; first banned after %v; evaluated per hour %v; the phone registered %d/%d",
		every, g.line(evaluated), dropped, firstBan, hourly, home.n, home.n)
	assert.Zero(t, g.Statuses[200], "the weak password, the 11th guess, was found after %v", found)
	assert.Positive(t, firstBan, "never banned")
	assert.Less(t, firstBan, day)
	for h, n := range hourly {
		assert.LessOrEqual(t, n, 10, "guesses evaluated in hour %d", h)
	}
}

// TestTrustFullTable: scanners from 120 addresses fill a table of 100 bans.
// Their bans are unproven, so a guesser who reads our answers still gets
// its ban at the threshold, evicting one of them.
func TestTrustFullTable(t *testing.T) {
	t.Parallel()
	tb := startWith(t, ban.Options{Policy: ban.Policy{MaxBans: 100}})
	home := tb.phone(t, "127.0.7.1:0", "carol")
	const scanners = 120
	for i := range scanners {
		tb.scan(t, fmt.Sprintf("127.0.8.%d:0", i+1), 1)
	}
	wait, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_ = bantest.WaitUntil(wait, func() bool { return len(tb.g.Bans()) >= 100 })
	require.Len(t, tb.g.Bans(), 100, "the table is full")
	home.register(t)

	const target = "user11"
	c := tb.client(t, "127.0.7.2:0")
	addr := c.LocalAddr().Addr()
	list := guessList(weakAt+1, target)
	var g guesses
	for _, pw := range list {
		if tb.g.Banned(addr) {
			break
		}
		tb.clock.Advance(time.Second)
		g.try(t, c, target, pw)
		home.register(t)
	}
	evaluated := tb.srv.Checked(addr)
	kept := 0
	for i := range scanners {
		if tb.g.Banned(netip.AddrFrom4([4]byte{127, 0, 8, byte(i + 1)})) {
			kept++
		}
	}
	t.Logf("full table: %d scanner sources, %d bans kept; then a guesser: %s, banned %v; the phone registered %d/%d",
		scanners, kept, g.line(evaluated), tb.g.Banned(addr), home.n, home.n)
	assert.Equal(t, 99, kept, "one scanner's ban made room")
	assert.Zero(t, g.Statuses[200], "the weak password was found")
	assert.LessOrEqual(t, evaluated, 5)
	rec := tb.banned(t, addr)
	assert.True(t, rec.Proven)
	assert.Len(t, tb.g.Bans(), 100)
	tb.settle(t, addr, 2*evaluated) // a challenge and the guess each
	tb.assertSilenced(t, addr, func() (bantest.Result, error) { return bantest.HealthyPhone(ctx, c, target, password(target), 1) })
}
