package registrar_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/bantest"
	"github.com/sipban/sipban/detect"
	"github.com/sipban/sipban/internal/fakeclock"
	"github.com/sipban/sipban/internal/registrar"
)

// silence is how long a client waits before it counts a request unanswered.
// The server answers on loopback within a millisecond.
const silence = 300 * time.Millisecond

// testbed is a registrar serving on 127.0.0.1 with its Guard and clock.
type testbed struct {
	srv   *registrar.Server
	g     *ban.Guard
	clock *fakeclock.Clock // the Guard's; the registrar's nonces use real time
	addr  string           // the registrar's UDP address
}

// demoAccounts are the accounts of examples/registrar, plus user1..user40
// for probing existing accounts.
func demoAccounts(t *testing.T) registrar.Accounts {
	t.Helper()
	a := registrar.Accounts{
		Users:   map[string]string{"alice": "alice-secret", "bob": "bob-secret", "carol": "carol-secret"},
		Deleted: map[string]bool{"olduser": true},
	}
	for _, name := range bantest.Names("user", 40) {
		a.Users[name] = name + "-secret"
	}
	return a
}

// start serves the registrar with a default Guard on the testbed's clock.
func start(t *testing.T) *testbed {
	t.Helper()
	return startWith(t, ban.Options{})
}

// client dials the registrar from local, such as "127.0.0.2:0".
func (tb *testbed) client(t *testing.T, local string) *bantest.Client {
	t.Helper()
	d := bantest.Dialer{Timeout: silence, UserAgent: "Yealink SIP-T46U 108.86.0.20"}
	c, err := d.Dial(context.Background(), local, tb.addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// settle waits until n requests from addr have been handled, and so judged
// by the Guard, and fails if more were.
func (tb *testbed) settle(t *testing.T, addr netip.Addr, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = bantest.WaitUntil(ctx, func() bool { return tb.srv.Handled(addr) >= n })
	require.Equal(t, n, tb.srv.Handled(addr), "requests handled from %v", addr)
}

// banned returns the address-wide ban on addr, which must be in place.
func (tb *testbed) banned(t *testing.T, addr netip.Addr) ban.Record {
	t.Helper()
	require.True(t, tb.g.Banned(addr), "%v not banned; bans: %+v", addr, tb.g.Bans())
	rec, ok := tb.g.Record(detect.SubjectOf(addr))
	require.True(t, ok)
	assert.Equal(t, "address", rec.Scope)
	return rec
}

// assertSilenced checks that addr is refused: attempt meets only silence
// and no request of it reaches a handler.
func (tb *testbed) assertSilenced(t *testing.T, addr netip.Addr, attempt func() (bantest.Result, error)) {
	t.Helper()
	before := tb.srv.Handled(addr)
	res, err := attempt()
	require.NoError(t, err)
	assert.Equal(t, 0, res.Answered, "banned source answered: %v", res)
	assert.Equal(t, res.Sent, res.Unanswered)
	assert.Equal(t, before, tb.srv.Handled(addr), "requests from a banned source reached a handler")
}

// untilBanned repeats attack, at most tries times, until addr is banned, and
// returns the sum of the results. Each answered attempt takes perAttempt
// requests; they are let settle before the next attempt, so the attempt that
// causes the ban is the last.
func (tb *testbed) untilBanned(t *testing.T, addr netip.Addr, tries, perAttempt int, attack func() (bantest.Result, error)) bantest.Result {
	t.Helper()
	sum := bantest.Result{Statuses: map[int]int{}}
	handled := tb.srv.Handled(addr)
	for range tries {
		res, err := attack()
		require.NoError(t, err)
		require.Zero(t, res.Unanswered, "silenced before the ban was seen: %v", res)
		sum.Sent += res.Sent
		sum.Answered += res.Answered
		for st, n := range res.Statuses {
			sum.Statuses[st] += n
		}
		handled += perAttempt * res.Answered
		tb.settle(t, addr, handled)
		if tb.g.Banned(addr) {
			return sum
		}
	}
	t.Fatalf("not banned after %d tries: %v", tries, sum)
	return sum
}

var ctx = context.Background()

func TestPasswordGuessingBanned(t *testing.T) {
	t.Parallel()
	tb := start(t)
	c := tb.client(t, "127.0.0.2:0")
	addr := c.LocalAddr().Addr()

	res, err := bantest.GuessPasswords(ctx, c, "alice", 5)
	require.NoError(t, err)
	assert.Equal(t, map[int]int{403: 5}, res.Statuses, "%v", res)

	// Each guess is a challenged REGISTER and one with credentials.
	tb.settle(t, addr, 10)
	rec := tb.banned(t, addr)
	assert.Equal(t, detect.BadCredentials, rec.Cause)
	assert.Equal(t, 5, rec.Evidence.Count)
	assert.True(t, rec.Diagnosis.Attack)
	assert.Equal(t, time.Hour, rec.Until.Sub(rec.Since))

	tb.assertSilenced(t, addr, func() (bantest.Result, error) { return bantest.GuessPasswords(ctx, c, "alice", 2) })
	// Another port of the same address, even with the right password.
	other := tb.client(t, "127.0.0.2:0")
	tb.assertSilenced(t, addr, func() (bantest.Result, error) { return bantest.HealthyPhone(ctx, other, "alice", "alice-secret", 1) })
	// Nobody else is affected.
	bystander := tb.client(t, "127.0.0.3:0")
	st, err := bystander.Register(ctx, "alice", "alice-secret")
	require.NoError(t, err)
	assert.Equal(t, 200, st)
}

// TestNoAnswerAfterTheBan: a guesser that sends its next attempt the moment
// it reads an answer gets five answers, never a sixth, because the Guard
// judges each transaction before its final response leaves.
func TestNoAnswerAfterTheBan(t *testing.T) {
	t.Parallel()
	tb := start(t)
	c := tb.client(t, "127.0.0.12:0")
	res, err := bantest.GuessPasswords(ctx, c, "alice", 7)
	require.NoError(t, err)
	assert.Equal(t, map[int]int{403: 5}, res.Statuses, "%v", res)
	assert.Equal(t, 2, res.Unanswered, "%v", res)
	assert.True(t, tb.g.Banned(c.LocalAddr().Addr()))
}

func TestHealthyPhoneNeverBanned(t *testing.T) {
	t.Parallel()
	tb := start(t)
	c := tb.client(t, "127.0.0.4:0")
	for i := range 40 {
		res, err := bantest.HealthyPhone(ctx, c, "bob", "bob-secret", 1)
		require.NoError(t, err)
		require.Equal(t, map[int]int{200: 1}, res.Statuses, "registration %d: %v", i, res)
		tb.clock.Advance(30 * time.Second)
	}
	// A burst too, as after a reboot.
	res, err := bantest.HealthyPhone(ctx, c, "bob", "bob-secret", 20)
	require.NoError(t, err)
	assert.Equal(t, map[int]int{200: 20}, res.Statuses)
	st, err := c.Options(ctx, "")
	require.NoError(t, err)
	assert.Equal(t, 200, st)

	tb.settle(t, c.LocalAddr().Addr(), 2*60+1)
	assert.False(t, tb.g.Banned(c.LocalAddr().Addr()))
	assert.Empty(t, tb.g.Bans())
}

func TestStaleDeviceBlockedAlone(t *testing.T) {
	t.Parallel()
	tb := start(t)
	phone := tb.client(t, "127.0.0.5:0")
	stale := tb.client(t, "127.0.0.5:0")
	addr := phone.LocalAddr().Addr()

	res, err := bantest.HealthyPhone(ctx, phone, "alice", "alice-secret", 1)
	require.NoError(t, err)
	require.Equal(t, map[int]int{200: 1}, res.Statuses)

	res, err = bantest.StaleDevice(ctx, stale, "olduser", 5)
	require.NoError(t, err)
	assert.Equal(t, map[int]int{403: 5}, res.Statuses, "%v", res)

	tb.settle(t, addr, 2+10) // challenged, as every account is
	sub := detect.Subject{Prefix: netip.PrefixFrom(addr, 32), Account: "olduser"}
	rec, ok := tb.g.Record(sub)
	require.True(t, ok, "no block; bans: %+v", tb.g.Bans())
	assert.Equal(t, "account", rec.Scope)
	assert.Equal(t, detect.StaleAccount, rec.Cause)
	assert.Equal(t, "olduser@127.0.0.5", rec.Subject.String())
	assert.Equal(t, ban.CauseTestDevice, rec.Diagnosis.Cause, "a deleted account it never logged in with")
	assert.False(t, rec.Diagnosis.Attack)
	assert.False(t, tb.g.Banned(addr), "the address stays open")

	// The stale device is refused, and told so.
	res, err = bantest.StaleDevice(ctx, stale, "olduser", 2)
	require.NoError(t, err)
	assert.Equal(t, map[int]int{403: 2}, res.Statuses, "%v", res)
	// The phone beside it keeps working.
	res, err = bantest.HealthyPhone(ctx, phone, "alice", "alice-secret", 5)
	require.NoError(t, err)
	assert.Equal(t, map[int]int{200: 5}, res.Statuses, "%v", res)
	tb.settle(t, addr, 12+10) // the two refused never reached a handler
	rec, _ = tb.g.Record(sub)
	assert.Equal(t, int64(2), rec.Blocked)
}

func TestEnumerationBanned(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		local    string
		attack   func(tb *testbed, c *bantest.Client, names []string) (bantest.Result, error)
		names    []string
		requests int // per attempt
	}{
		{"unknown names refused as a wrong password would be", "127.0.0.6:0", func(tb *testbed, c *bantest.Client, names []string) (bantest.Result, error) {
			return bantest.EnumerateAccounts(ctx, c, names)
		}, bantest.Names("ghost", 40), 2},
		{"challenges never answered", "127.0.0.7:0", func(tb *testbed, c *bantest.Client, names []string) (bantest.Result, error) {
			// The detector waits a moment before judging unanswered
			// challenges, as phones booting together are challenged at once.
			tb.clock.Advance(time.Second)
			return bantest.ProbeAccounts(ctx, c, names)
		}, bantest.Names("user", 40), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tb := start(t)
			c := tb.client(t, tt.local)
			addr := c.LocalAddr().Addr()
			i := 0
			res := tb.untilBanned(t, addr, len(tt.names), tt.requests, func() (bantest.Result, error) {
				i++
				return tt.attack(tb, c, tt.names[i-1:i])
			})
			// The detector estimates distinct names from a 32-bit mask: 9
			// names that do not collide already read as "about 11".
			assert.GreaterOrEqual(t, res.Sent, 9, "banned too early: %v", res)
			t.Logf("banned after %v", res)
			rec := tb.banned(t, addr)
			assert.Equal(t, detect.Enumeration, rec.Cause)
			assert.GreaterOrEqual(t, rec.Evidence.DistinctAccounts, 10)
			tb.assertSilenced(t, addr, func() (bantest.Result, error) { return bantest.ProbeAccounts(ctx, c, []string{"alice"}) })
		})
	}
}

func TestScannerBannedAtOnce(t *testing.T) {
	t.Parallel()
	tb := start(t)
	c := tb.client(t, "127.0.0.8:0")
	addr := c.LocalAddr().Addr()

	// A scanner's very first request gets no answer and reaches no handler.
	res, err := bantest.Scanner(ctx, c, 1)
	require.NoError(t, err)
	assert.Equal(t, 1, res.Unanswered, "%v", res)
	rec := tb.banned(t, addr)
	assert.Zero(t, tb.srv.Handled(addr))
	assert.Equal(t, detect.Scanner, rec.Cause)
	assert.Equal(t, 24*time.Hour, rec.Until.Sub(rec.Since))
	assert.Contains(t, rec.Evidence.Detail, bantest.ScannerUserAgent)

	tb.assertSilenced(t, addr, func() (bantest.Result, error) { return bantest.Scanner(ctx, c, 2) })

	// The ban ends with its time.
	tb.clock.Advance(24 * time.Hour)
	n, err := tb.g.Expire(ctx, tb.clock.Now())
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	st, err := c.Options(ctx, "")
	require.NoError(t, err)
	assert.Equal(t, 200, st)
	tb.settle(t, addr, 1)
}

func TestInviteFloodBanned(t *testing.T) {
	t.Parallel()
	tb := start(t)
	c := tb.client(t, "127.0.0.9:0")
	addr := c.LocalAddr().Addr()

	// Calls to a missing number are refused as sent; they must not be what
	// bans the dialer here.
	st, err := c.Invite(ctx, "alice", "alice-secret", "nobody")
	require.NoError(t, err)
	assert.Equal(t, 404, st)

	tb.settle(t, addr, 2)
	res := tb.untilBanned(t, addr, 50, 2, func() (bantest.Result, error) {
		return bantest.FloodInvites(ctx, c, "alice", "alice-secret", "bob", 1)
	})
	assert.GreaterOrEqual(t, res.Statuses[480], 25, "banned too early: %v", res)
	t.Logf("banned after %v", res)
	rec := tb.banned(t, addr)
	assert.Equal(t, detect.CallRate, rec.Cause)
	tb.assertSilenced(t, addr, func() (bantest.Result, error) {
		return bantest.FloodInvites(ctx, c, "alice", "alice-secret", "bob", 1)
	})
}

func TestAdminLiftsBan(t *testing.T) {
	t.Parallel()
	tb := start(t)
	api := httptest.NewServer(registrar.AdminHandler(tb.g))
	t.Cleanup(api.Close)
	c := tb.client(t, "127.0.0.10:0")
	addr := c.LocalAddr().Addr()

	_, err := bantest.GuessPasswords(ctx, c, "carol", 5)
	require.NoError(t, err)
	tb.settle(t, addr, 10)
	tb.banned(t, addr)

	do := func(method, path string) *http.Response {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, api.URL+path, nil)
		require.NoError(t, err)
		res, err := api.Client().Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { res.Body.Close() })
		return res
	}
	res := do("GET", "/bans")
	require.Equal(t, http.StatusOK, res.StatusCode)
	var all []ban.Record
	require.NoError(t, json.NewDecoder(res.Body).Decode(&all))
	require.Len(t, all, 1)
	assert.Equal(t, "127.0.0.10", all[0].Subject.String())

	res = do("GET", "/bans/127.0.0.10")
	require.Equal(t, http.StatusOK, res.StatusCode)
	var one map[string]any
	require.NoError(t, json.NewDecoder(res.Body).Decode(&one))
	assert.Equal(t, "bad-credentials", one["cause"])
	assert.Equal(t, "address", one["scope"])

	res = do("DELETE", "/bans/127.0.0.10")
	assert.Equal(t, http.StatusNoContent, res.StatusCode)
	res = do("GET", "/bans/127.0.0.10")
	assert.Equal(t, http.StatusNotFound, res.StatusCode)
	res = do("DELETE", "/bans/127.0.0.10")
	assert.Equal(t, http.StatusNotFound, res.StatusCode)

	assert.False(t, tb.g.Banned(addr))
	before := tb.srv.Handled(addr)
	st, err := c.Register(ctx, "carol", "carol-secret")
	require.NoError(t, err)
	assert.Equal(t, 200, st, "answered again once lifted")
	tb.settle(t, addr, before+2)
}

// tools returns the paths of the programs a suite selected by env runs,
// skipping it when env is unset; once set, a missing program fails it.
func tools(t *testing.T, env, why string, names ...string) []string {
	t.Helper()
	if os.Getenv(env) == "" {
		t.Skipf("set %s=1 to %s", env, why)
	}
	paths := make([]string, len(names))
	for i, n := range names {
		p, err := exec.LookPath(n)
		require.NoError(t, err, "%s is set but %s is not installed", env, n)
		paths[i] = p
	}
	return paths
}
