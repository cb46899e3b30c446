package ban_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/bantest"
	"github.com/sipban/sipban/ban/storetest"
	"github.com/sipban/sipban/detect"
)

// mapStore is storetest's Memory store, which keeps the contract, told to
// fail at will and keeping every change written.
type mapStore struct {
	*storetest.Memory
	mu      sync.Mutex
	changes []ban.Change
	fail    error
}

func newMapStore() *mapStore { return &mapStore{Memory: storetest.NewMemory()} }

func (s *mapStore) Write(ctx context.Context, batch []ban.Change) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.changes = append(s.changes, batch...)
	return s.Memory.Write(ctx, batch)
}

func (s *mapStore) setFail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = err
}

// ops counts the changes written, by Op.
func (s *mapStore) ops() map[ban.Op]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := map[ban.Op]int{}
	for _, c := range s.changes {
		n[c.Op]++
	}
	return n
}

// held counts what the store holds, by Op.
func (s *mapStore) held(t *testing.T) map[ban.Op]int {
	t.Helper()
	n := map[ban.Op]int{}
	require.NoError(t, s.Load(context.Background(), func(c ban.Change) error { n[c.Op]++; return nil }))
	return n
}

func flush(t *testing.T, g *ban.Guard) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, g.Flush(ctx))
}

// stripped drops from records what a process counts or sees live (the
// refusals, and the devices at the address, which register again after a
// restart), to compare them across one.
func stripped(rs []ban.Record) []ban.Record {
	for i := range rs {
		rs[i].Blocked = 0
		rs[i].Diagnosis.Devices = nil
	}
	return rs
}

// A restart brings back every kind of record with its evidence and
// diagnosis, the levels that make a repeat offence longer, the devices that
// keep working under a guard, and the customers' lifts and probations.
func TestStoreRestart(t *testing.T) {
	c := newClock()
	st := newMapStore()
	g := newGuard(t, c, ban.Options{Store: st})
	n, err := g.Restore(context.Background())
	require.NoError(t, err)
	assert.Zero(t, n, "nothing to restore in an empty store")

	// An office guarded, its known phone still served; a guesser banned
	// and banned again, at level 1; a typo blocked and lifted by the
	// customer, on probation.
	const office = "192.0.2.80"
	require.NoError(t, send(t, g, c, req{from: office + ":5062", account: "alice", creds: true, status: 200}))
	for a := range 6 {
		require.NoError(t, send(t, g, c, times(5, req{from: office + ":6000", account: fmt.Sprint("user", a), creds: true, status: 403})...))
	}
	guess := req{from: "203.0.113.5:5060", account: "100", creds: true, status: 403}
	require.NoError(t, send(t, g, c, times(5, guess)...))
	require.NoError(t, g.Lift(context.Background(), detect.SubjectOf(addr("203.0.113.5"))))
	require.NoError(t, send(t, g, c, times(5, guess)...))
	s := site{t, g, c}
	typo := typoBlock(t, s)
	require.NoError(t, g.LiftAs(context.Background(), typo, ban.LiftRequest{By: "customer-7", Fixed: ban.CauseTypo}))
	flush(t, g)
	before := stripped(g.Bans())
	scopes := map[string]int{}
	for _, r := range before {
		assert.Empty(t, r.StoreError)
		scopes[r.Scope]++
	}
	// How many accounts are blocked before the office is guarded rests on
	// the detector's estimate of distinct accounts, which is seeded anew
	// per process; every kind of record is there.
	assert.Equal(t, 1, scopes[ban.ScopeAddress])
	assert.Equal(t, 2, scopes[ban.ScopeGuard])
	assert.Positive(t, scopes[ban.ScopeAccount])
	require.NoError(t, g.Close(context.Background()))

	g2 := newGuard(t, c, ban.Options{Store: st})
	n, err = g2.Restore(context.Background())
	require.NoError(t, err)
	assert.Equal(t, len(before), n)
	assert.Equal(t, before, stripped(g2.Bans()), "records, evidence and diagnosis as they were")
	assert.True(t, g2.Banned(addr("203.0.113.5")), "the ban holds in memory at once")
	assert.Equal(t, ban.Admitted, g2.Admit(addr(office), "alice", phoneUA), "the known phone is still known")
	assert.Equal(t, ban.Guarded, g2.Admit(addr(office), "bob", phoneUA))
	assert.Equal(t, 2, g2.SelfLiftsLeft("customer-7"), "the customer's lift still counts")
	r, ok := g2.Record(detect.SubjectOf(addr("203.0.113.5")))
	require.True(t, ok)
	assert.Equal(t, 1, r.Level)

	// The offence history: banned once more after this ban ends, level 2.
	c.Advance(r.Until.Sub(c.Now()) + time.Second)
	_, err = g2.Expire(context.Background(), c.Now())
	require.NoError(t, err)
	flush(t, g2)
	g3 := newGuard(t, c, ban.Options{Store: st})
	_, err = g3.Restore(context.Background())
	require.NoError(t, err)
	require.NoError(t, send(t, g3, c, times(5, guess)...))
	r, ok = g3.Record(detect.SubjectOf(addr("203.0.113.5")))
	require.True(t, ok)
	assert.Equal(t, 2, r.Level, "a restart forgets no offence")

	// The probation: the typo back twice with proof blocks again, longer.
	s = site{t, g3, c}
	s.dev(suspect, softUA, "REGISTER", "carol", 403)
	s.dev(suspect, softUA, "REGISTER", "carol", 403)
	again, ok := g3.Record(typo)
	require.True(t, ok, "the probation survived the restarts")
	assert.Equal(t, 2, again.Level)
	require.Len(t, again.Lifts, 1)
	assert.Equal(t, "customer-7", again.Lifts[0].By)

	_, err = g3.Restore(context.Background())
	assert.ErrorIs(t, err, ban.ErrRestored)
}

// Events that change nothing write nothing: a device logging in again and
// again is stored once every quarter of the trust window (15 minutes) at
// most, and no answer waits for a write. A guesser's failures are kept,
// with the moment the detectors forgot them on its ban.
func TestStoreWritesOnlyChanges(t *testing.T) {
	c := newClock()
	st := newMapStore()
	g := newGuard(t, c, ban.Options{Store: st})
	ok := req{from: "192.0.2.10:5062", account: "alice", creds: true, status: 200}
	require.NoError(t, send(t, g, c, times(600, ok)...)) // ten minutes of logins
	flush(t, g)
	assert.Equal(t, map[ban.Op]int{ban.OpDevice: 1}, st.ops())
	c.Advance(time.Hour)
	require.NoError(t, send(t, g, c, ok))
	flush(t, g)
	assert.Equal(t, map[ban.Op]int{ban.OpDevice: 2}, st.ops())
	require.NoError(t, send(t, g, c, times(5, req{from: "203.0.113.9:5060", account: "1", creds: true, status: 403})...))
	flush(t, g)
	assert.Equal(t, map[ban.Op]int{ban.OpDevice: 2, ban.OpRecord: 1, ban.OpFailure: 5 + 1}, st.ops())
}

// A failing store costs no ban: it holds in memory, the record says it is
// not stored and why, the log says so once per interval, and the change is
// written once the store is back.
func TestStoreFailing(t *testing.T) {
	c := newClock()
	st := newMapStore()
	st.setFail(errors.New("disk full"))
	g := newGuard(t, c, ban.Options{Store: st})
	require.NoError(t, send(t, g, c, times(5, req{from: "203.0.113.9:5060", account: "1", creds: true, status: 403})...))
	assert.True(t, g.Banned(addr("203.0.113.9")))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var r ban.Record
	require.NoError(t, bantest.WaitUntil(ctx, func() bool {
		r, _ = g.Record(detect.SubjectOf(addr("203.0.113.9")))
		return r.StoreError != ""
	}))
	assert.Equal(t, "not stored yet: disk full", r.StoreError)
	assert.Positive(t, g.StoreStats().Failures)
	short, scancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer scancel()
	assert.ErrorContains(t, g.Flush(short), "disk full")

	st.setFail(nil)
	require.NoError(t, g.Flush(ctx), "written once the store is back")
	r, _ = g.Record(detect.SubjectOf(addr("203.0.113.9")))
	assert.Empty(t, r.StoreError)
	assert.Equal(t, 1, st.held(t)[ban.OpRecord])
	ss := g.StoreStats()
	assert.Zero(t, ss.Pending)
	assert.NoError(t, ss.Err)
}

// Past Options.StoreQueue, changes are dropped and counted; bans hold.
func TestStoreQueueBound(t *testing.T) {
	c := newClock()
	st := newMapStore()
	st.setFail(errors.New("store away"))
	g := newGuard(t, c, ban.Options{Store: st, StoreQueue: 3})
	for i := range 5 {
		ev := detect.Event{Source: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 9, 0, byte(i)}), 5060), Method: "OPTIONS", UserAgent: "friendly-scanner"}
		require.NoError(t, g.Observe(context.Background(), &ev))
	}
	assert.Len(t, g.Bans(), 5)
	// The records' queue and the failures' (each ban's moment of
	// forgetting) are bounded alike.
	assert.EqualValues(t, 2+2, g.StoreStats().Dropped)
	st.setFail(nil)
	flush(t, g)
	assert.Equal(t, 3, st.held(t)[ban.OpRecord])
}

// What ended while the program was away is history, and the store forgets
// it; a store that hands back nonsense is refused.
func TestRestoreEnded(t *testing.T) {
	c := newClock()
	st := newMapStore()
	g := newGuard(t, c, ban.Options{Store: st})
	require.NoError(t, send(t, g, c, times(5, req{from: "203.0.113.9:5060", account: "1", creds: true, status: 403})...))
	flush(t, g)
	require.NoError(t, g.Close(context.Background()))
	c.Advance(48 * time.Hour)
	g2 := newGuard(t, c, ban.Options{Store: st})
	n, err := g2.Restore(context.Background())
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Empty(t, g2.Bans())
	flush(t, g2)
	assert.Equal(t, map[ban.Op]int{ban.OpEnd: 1}, st.held(t))
	require.NoError(t, send(t, g2, c, times(5, req{from: "203.0.113.9:5060", account: "1", creds: true, status: 403})...))
	r, _ := g2.Record(detect.SubjectOf(addr("203.0.113.9")))
	assert.Equal(t, 1, r.Level)

	bad := newMapStore()
	require.NoError(t, bad.Write(context.Background(), []ban.Change{{Op: ban.OpRecord,
		Record: ban.StoredRecord{Subject: detect.Subject{Account: "x"}, Scope: ban.ScopeAddress, Until: c.Now().Add(time.Hour)}}}))
	_, err = newGuard(t, c, ban.Options{Store: bad}).Restore(context.Background())
	assert.ErrorContains(t, err, "not on an address")
}

// A restart keeps the trust a proven login earns its address: a forged
// datagram naming a scanner, which bans an address with no login at once,
// drops without a record at a customer's within the trust window
// (detect.Limits.TrustWindow, an hour) of the last login stored, and guards
// it until Policy.KnownFor has passed.
func TestRestoreKeepsTrust(t *testing.T) {
	c := newClock()
	st := newMapStore()
	g := newGuard(t, c, ban.Options{Store: st})
	_, err := g.Restore(context.Background())
	require.NoError(t, err)
	const office, other = "192.0.2.77", "192.0.2.78"
	const contact = "<sip:alice@10.0.0.5:5062>"
	c.Advance(time.Second)
	login := detect.Event{Source: netip.MustParseAddrPort(office + ":5062"), Transport: "udp", Method: "REGISTER",
		Account: "alice", Credentials: true, Proven: true, Status: 200, UserAgent: phoneUA, Contact: contact}
	require.NoError(t, g.Observe(context.Background(), &login))
	flush(t, g)
	require.NoError(t, g.Close(context.Background()))

	forge := func(g *ban.Guard, from string) {
		t.Helper()
		c.Advance(time.Second)
		ev := detect.Event{Source: netip.MustParseAddrPort(from + ":5060"), Transport: "udp", Method: "OPTIONS",
			Status: 200, UserAgent: "friendly-scanner"}
		require.NoError(t, g.Observe(context.Background(), &ev))
	}
	c.Advance(40 * time.Minute)
	g2 := newGuard(t, c, ban.Options{Store: st})
	_, err = g2.Restore(context.Background())
	require.NoError(t, err)
	forge(g2, office)
	assert.False(t, g2.Banned(addr(office)), "the login 40 minutes before the restart still counts")
	forge(g2, other)
	assert.True(t, g2.Banned(addr(other)), "an address with no login is banned by the same datagram")
	require.NoError(t, g2.Close(context.Background()))

	c.Advance(21 * time.Minute)
	g3 := newGuard(t, c, ban.Options{Store: st})
	_, err = g3.Restore(context.Background())
	require.NoError(t, err)
	forge(g3, office)
	assert.False(t, g3.Banned(addr(office)), "an hour after the login, the device is still known there")
	r, ok := g3.Record(detect.SubjectOf(addr(office)))
	require.True(t, ok)
	assert.Equal(t, ban.ScopeGuard, r.Scope, "so a datagram without proof guards the address")
	assert.Equal(t, ban.Admitted, g3.Admit(addr(office), "alice", phoneUA))
	i := slices.IndexFunc(r.Diagnosis.Devices, func(d ban.Device) bool { return d.Port == 5062 })
	require.GreaterOrEqual(t, i, 0, "the phone that logged in before the restarts is listed at its site: %+v", r.Diagnosis.Devices)
	phone := r.Diagnosis.Devices[i]
	assert.Equal(t, []string{"alice"}, phone.Accounts)
	assert.Equal(t, phoneUA, phone.UserAgent)
	assert.Equal(t, contact, phone.Contact)
	assert.Positive(t, phone.Successes)
	assert.False(t, phone.Suspect)
	require.NoError(t, g3.Close(context.Background()))

	c.Advance(31 * 24 * time.Hour)
	g4 := newGuard(t, c, ban.Options{Store: st})
	_, err = g4.Restore(context.Background())
	require.NoError(t, err)
	forge(g4, office)
	assert.True(t, g4.Banned(addr(office)), "after Policy.KnownFor, nothing is known there")
}

// A restart gives no guesser its count back: the failures with proof the
// detectors were counting come back from the store, in order, with the
// moments they were forgotten. The Guard before each restart is not closed,
// as after a kill; only what a Flush acknowledged counts.
func TestRestoreKeepsCounts(t *testing.T) {
	restart := func(t *testing.T, c *clock, st *mapStore, g *ban.Guard) *ban.Guard {
		t.Helper()
		flush(t, g)
		g2 := newGuard(t, c, ban.Options{Store: st})
		_, err := g2.Restore(context.Background())
		require.NoError(t, err)
		return g2
	}
	guess := func(from, account string) req {
		return req{from: from + ":5060", account: account, creds: true, status: 403}
	}
	t.Run("four guesses, a restart, the fifth", func(t *testing.T) {
		c, st := newClock(), newMapStore()
		g := newGuard(t, c, ban.Options{Store: st})
		require.NoError(t, send(t, g, c, times(4, guess("203.0.113.20", "100"))...))
		g = restart(t, c, st, g)
		assert.False(t, g.Banned(addr("203.0.113.20")))
		require.NoError(t, send(t, g, c, guess("203.0.113.20", "100")))
		assert.True(t, g.Banned(addr("203.0.113.20")), "the fifth guess after the restart")

		fresh := newGuard(t, c, ban.Options{Store: newMapStore()})
		require.NoError(t, send(t, fresh, c, guess("203.0.113.20", "100")))
		assert.False(t, fresh.Banned(addr("203.0.113.20")), "test bug: one guess bans by itself")
	})
	t.Run("a patient guesser across restarts", func(t *testing.T) {
		c, st := newClock(), newMapStore()
		g := newGuard(t, c, ban.Options{Store: st})
		// 9 guesses, 3 every 15 minutes, each batch after a restart: under
		// 5 in 10 minutes, and under 10 in a day until the 10th.
		for i := range 3 {
			require.NoError(t, send(t, g, c, times(3, guess("203.0.113.21", fmt.Sprint("10", i)))...))
			c.Advance(15 * time.Minute)
			g = restart(t, c, st, g)
		}
		assert.False(t, g.Banned(addr("203.0.113.21")))
		require.NoError(t, send(t, g, c, guess("203.0.113.21", "103")))
		assert.True(t, g.Banned(addr("203.0.113.21")), "the 10th guess of the day")
	})
	t.Run("guesses spread over addresses", func(t *testing.T) {
		c, st := newClock(), newMapStore()
		g := newGuard(t, c, ban.Options{Store: st})
		require.NoError(t, send(t, g, c, guess("203.0.113.30", "alice"), guess("203.0.113.31", "alice"),
			guess("203.0.113.32", "alice"), guess("203.0.113.33", "alice")))
		g = restart(t, c, st, g)
		require.NoError(t, send(t, g, c, guess("203.0.113.34", "alice")))
		r, ok := g.Record(detect.Subject{Account: "alice"})
		require.True(t, ok, "the account's fifth guess, from a fifth address, after the restart")
		assert.Equal(t, ban.ScopeGuard, r.Scope)
	})
	t.Run("a lift forgets", func(t *testing.T) {
		c, st := newClock(), newMapStore()
		g := newGuard(t, c, ban.Options{Store: st})
		require.NoError(t, send(t, g, c, times(5, guess("203.0.113.22", "100"))...))
		require.True(t, g.Banned(addr("203.0.113.22")))
		require.NoError(t, g.Lift(context.Background(), detect.SubjectOf(addr("203.0.113.22"))))
		g = restart(t, c, st, g)
		require.NoError(t, send(t, g, c, times(4, guess("203.0.113.22", "100"))...))
		assert.False(t, g.Banned(addr("203.0.113.22")), "the guesses before the lift counted again")
		require.NoError(t, send(t, g, c, guess("203.0.113.22", "100")))
		assert.True(t, g.Banned(addr("203.0.113.22")))
	})
	t.Run("unproven failures are not kept", func(t *testing.T) {
		c, st := newClock(), newMapStore()
		g := newGuard(t, c, ban.Options{Store: st})
		for range 9 {
			c.Advance(time.Second)
			ev := detect.Event{Source: netip.MustParseAddrPort("203.0.113.24:5060"), Transport: "udp",
				Method: "INVITE", Status: 488, Account: "100"}
			require.NoError(t, g.Observe(context.Background(), &ev))
		}
		flush(t, g)
		assert.Zero(t, st.ops()[ban.OpFailure], "a forged source could fill the store")
	})
}

// A source's failures are kept 16 per 10 minutes at most: one the detectors
// never ban (behind a guarded address, say) cannot fill the disk.
func TestFailuresKeptWithinBudget(t *testing.T) {
	c, st := newClock(), newMapStore()
	g := newGuard(t, c, ban.Options{Store: st})
	kept := func() int {
		t.Helper()
		flush(t, g)
		n := 0
		require.NoError(t, st.Load(context.Background(), func(ch ban.Change) error {
			if ch.Op == ban.OpFailure && !ch.Failure.Forget.IsValid() {
				n++
			}
			return nil
		}))
		return n
	}
	for i := range 40 {
		require.NoError(t, send(t, g, c, req{from: "203.0.113.40:5060", account: fmt.Sprint("u", i), creds: true, status: 404}))
	}
	assert.Equal(t, 16, kept())
	assert.EqualValues(t, 24, g.StoreStats().Unkept)
	require.NoError(t, send(t, g, c, req{from: "203.0.113.41:5060", account: "u", creds: true, status: 403}))
	assert.Equal(t, 17, kept(), "another source has a budget of its own")
	c.Advance(10 * time.Minute)
	require.NoError(t, send(t, g, c, req{from: "203.0.113.40:5060", account: "u", creds: true, status: 403}))
	assert.Equal(t, 18, kept(), "a new budget ten minutes on")
}
