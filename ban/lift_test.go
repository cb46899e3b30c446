package ban_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/detect"
)

// typoBlock makes the office's softphone blocked for mistyping carol's
// password, next to a working desk phone, and returns the block's subject.
func typoBlock(t *testing.T, s site) detect.Subject {
	t.Helper()
	s.dev(healthy, deskUA, "REGISTER", "alice", 200)
	for range 5 {
		s.dev(suspect, softUA, "REGISTER", "carol", 403)
	}
	sub := sub("carol@198.51.100.50")
	_, ok := s.g.Record(sub)
	require.True(t, ok)
	return sub
}

// A customer's lift is kept, and the cause coming back within probation
// blocks again at the second proven failure, longer; unproven failures
// (forged datagrams) never count.
func TestLiftProbation(t *testing.T) {
	c := newClock()
	g := newGuard(t, c, ban.Options{})
	s := site{t, g, c}
	subj := typoBlock(t, s)
	first, _ := g.Record(subj)
	ctx := context.Background()
	liftAt := c.Now()
	require.NoError(t, g.LiftAs(ctx, subj, ban.LiftRequest{By: "customer-7", Fixed: ban.CauseTypo}))
	_, ok := g.Record(subj)
	require.False(t, ok)

	forged := detect.Event{Source: netip.MustParseAddrPort("198.51.100.50:5062"), Method: "REGISTER", Account: "carol",
		Credentials: true, Status: 403, UserAgent: softUA}
	for range 3 {
		c.Advance(time.Second)
		require.NoError(t, g.Observe(ctx, &forged))
	}
	_, ok = g.Record(subj)
	assert.False(t, ok, "unproven failures made the block again")

	c.Advance(time.Hour)
	s.dev(healthy, deskUA, "REGISTER", "alice", 200)
	s.dev(suspect, softUA, "REGISTER", "carol", 403)
	_, ok = g.Record(subj)
	assert.False(t, ok, "one failure is not a repeat")
	s.dev(suspect, softUA, "REGISTER", "carol", 403)
	again, ok := g.Record(subj)
	require.True(t, ok, "the second failure in probation blocks again")
	assert.Equal(t, first.Level+2, again.Level, "one level for the repeat, one for the probation")
	assert.Equal(t, 4*first.Until.Sub(first.Since), again.Until.Sub(again.Since))
	require.Len(t, again.Lifts, 1)
	assert.Equal(t, ban.LiftNote{By: "customer-7", Fixed: ban.CauseTypo, Cause: ban.CauseTypo, At: liftAt}, again.Lifts[0])
	assert.Equal(t, ban.Admitted, g.Admit(addr("198.51.100.50"), "alice", deskUA), "the desk phone keeps working")
}

// After the probation the detector's own threshold applies again.
func TestLiftProbationEnds(t *testing.T) {
	c := newClock()
	g := newGuard(t, c, ban.Options{})
	s := site{t, g, c}
	subj := typoBlock(t, s)
	require.NoError(t, g.LiftAs(context.Background(), subj, ban.LiftRequest{By: "customer-7", Fixed: ban.CauseTypo}))
	c.Advance(25 * time.Hour)
	s.dev(healthy, deskUA, "REGISTER", "alice", 200) // the desk phone re-registers
	for range 4 {
		s.dev(suspect, softUA, "REGISTER", "carol", 403)
	}
	_, ok := g.Record(subj)
	assert.False(t, ok, "4 failures a day later are below the threshold")
	s.dev(suspect, softUA, "REGISTER", "carol", 403)
	_, ok = g.Record(subj)
	assert.True(t, ok)
}

func TestLiftRules(t *testing.T) {
	c := newClock()
	g := newGuard(t, c, ban.Options{})
	s := site{t, g, c}
	ctx := context.Background()
	subj := typoBlock(t, s)
	assert.ErrorIs(t, g.LiftAs(ctx, subj, ban.LiftRequest{By: "customer-7"}), ban.ErrFixedMissing)
	assert.ErrorIs(t, g.LiftAs(ctx, subj, ban.LiftRequest{By: "customer-7", Fixed: ban.CauseAttack}), ban.ErrFixedMissing)
	assert.ErrorIs(t, g.LiftAs(ctx, subj, ban.LiftRequest{By: "customer-7", Fixed: "everything"}), ban.ErrFixedMissing)
	assert.ErrorIs(t, g.LiftAs(ctx, sub("carol@198.51.100.99"), ban.LiftRequest{By: "customer-7", Fixed: ban.CauseTypo}), ban.ErrNotFound)

	var guess []req
	for i := range 5 {
		guess = append(guess, req{from: "203.0.113.80:5060", account: string(rune('a' + i)), creds: true, status: 403})
	}
	require.NoError(t, send(t, g, c, guess...))
	attack := sub("203.0.113.80")
	assert.ErrorIs(t, g.LiftAs(ctx, attack, ban.LiftRequest{By: "customer-7", Fixed: ban.CauseTypo}), ban.ErrAttack)
	assert.True(t, g.Banned(attack.Prefix.Addr()))
	require.NoError(t, g.LiftAs(ctx, attack, ban.LiftRequest{By: "noc", Operator: true}))
	assert.False(t, g.Banned(attack.Prefix.Addr()))

	// Three self-service lifts a week, then only an operator.
	assert.Equal(t, 3, g.SelfLiftsLeft("customer-7"))
	for i := range 4 {
		if i > 0 {
			c.Advance(25 * time.Hour) // past the probation, so that each block is a fresh one
			s.dev(healthy, deskUA, "REGISTER", "alice", 200)
			for range 5 {
				s.dev(suspect, softUA, "REGISTER", "carol", 403)
			}
		}
		err := g.LiftAs(ctx, subj, ban.LiftRequest{By: "customer-7", Fixed: ban.CauseTypo})
		if i < 3 {
			require.NoError(t, err, "lift %d", i+1)
			assert.Equal(t, 2-i, g.SelfLiftsLeft("customer-7"))
			continue
		}
		assert.ErrorIs(t, err, ban.ErrLiftLimit)
		require.NoError(t, g.LiftAs(ctx, subj, ban.LiftRequest{By: "customer-8", Fixed: ban.CauseTypo}), "another customer's count is their own")
	}
}

const office = "198.51.100.60"

// guardOffice has a stranger guess at the office, where alice's phone logs
// in: the office is guarded.
func guardOffice(t *testing.T, g *ban.Guard, c *clock) {
	t.Helper()
	require.NoError(t, send(t, g, c, req{from: office + ":5062", account: "alice", creds: true, status: 200}))
	for i := range 5 {
		require.NoError(t, send(t, g, c, req{from: office + ":5070", account: fmt.Sprint("user", i), creds: true, status: 403}))
	}
}

// A customer lifts a guard by saying they add a device: there is nothing
// of theirs to fix, and no cause of another record's fits.
func TestLiftGuardForANewDevice(t *testing.T) {
	c := newClock()
	g := newGuard(t, c, ban.Options{})
	ctx := context.Background()
	guardOffice(t, g, c)
	// The new phone, refused unchecked by the guard, is listed as such: no
	// failure of its own, not the device to fix.
	c.Advance(time.Second)
	refused := detect.Event{Source: netip.MustParseAddrPort(office + ":5080"), Transport: "udp", Method: "REGISTER",
		Account: "bob", Credentials: true, Proven: true, Status: 403, Guarded: true, UserAgent: "Zoiper rv2.10.20.5"}
	require.NoError(t, g.Observe(ctx, &refused))
	r, ok := g.Record(sub(office))
	require.True(t, ok)
	require.Equal(t, ban.ScopeGuard, r.Scope)
	assert.Equal(t, []string{ban.FixNewDevice}, r.Fixes())
	var phone ban.Device
	for _, d := range r.Diagnosis.Devices {
		if d.Port == 5080 {
			phone = d
		}
	}
	assert.Equal(t, 1, phone.Refused)
	assert.Zero(t, phone.Failures)
	assert.False(t, phone.Suspect, "a device the guard refused is marked the one to fix")
	assert.ErrorIs(t, g.LiftAs(ctx, sub(office), ban.LiftRequest{By: "customer-7", Fixed: ban.CauseTypo}), ban.ErrFixedMissing)
	require.NoError(t, g.LiftAs(ctx, sub(office), ban.LiftRequest{By: "customer-7", Fixed: ban.FixNewDevice}))
	_, ok = g.Record(sub(office))
	assert.False(t, ok, "the guard is lifted")
	assert.Equal(t, ban.Admitted, g.Admit(addr(office), "bob", "Yealink SIP-T46U 108.86.0.20"), "the new device may log in")

	// Any other record takes a cause it had.
	typo := typoBlock(t, site{t, g, c})
	tr, _ := g.Record(typo)
	assert.Equal(t, ban.FixableCauses(), tr.Fixes())
	assert.ErrorIs(t, g.LiftAs(ctx, typo, ban.LiftRequest{By: "customer-7", Fixed: ban.FixNewDevice}), ban.ErrFixedMissing)
}

// A lifted guard comes back as a guard, not an address ban that would cut
// the phones it spared, at the second proven failure of its probation; an
// account's guard too, wherever the guesser moves.
func TestLiftGuardProbation(t *testing.T) {
	c := newClock()
	g := newGuard(t, c, ban.Options{})
	ctx := context.Background()
	guardOffice(t, g, c)
	first, ok := g.Record(sub(office))
	require.True(t, ok)
	require.Equal(t, ban.ScopeGuard, first.Scope)
	require.NoError(t, g.LiftAs(ctx, sub(office), ban.LiftRequest{By: "customer-7", Fixed: ban.FixNewDevice}))
	for i := range 2 {
		c.Advance(time.Minute)
		require.NoError(t, send(t, g, c, req{from: office + ":5070", account: fmt.Sprint("user", 10+i), creds: true, status: 403}))
	}
	again, ok := g.Record(sub(office))
	require.True(t, ok, "the second failure in probation guards again")
	assert.Equal(t, ban.ScopeGuard, again.Scope)
	assert.Equal(t, first.Level+2, again.Level)
	assert.False(t, g.Banned(addr(office)), "the address is not banned")
	assert.Equal(t, ban.Admitted, g.Admit(addr(office), "alice", "Grandstream GXP2170 1.0.11.23"), "alice's phone keeps working")

	// alice's account, guessed from many addresses, guarded, then lifted.
	guess := func(from string) ban.Admission {
		c.Advance(time.Second)
		a := g.Admit(addr(from), "alice", "sipcracker")
		ev := detect.Event{Source: netip.MustParseAddrPort(from + ":5060"), Transport: "udp", Method: "REGISTER",
			Account: "alice", Credentials: true, Proven: a == ban.Admitted, Status: 403, Guarded: a == ban.Guarded, UserAgent: "sipcracker"}
		require.NoError(t, g.Observe(ctx, &ev))
		return a
	}
	acct := detect.Subject{Account: "alice"}
	for i := 0; ; i++ {
		require.Less(t, i, 20, "never guarded")
		guess(fmt.Sprintf("203.0.113.%d", i%10+1))
		if _, ok := g.Record(acct); ok {
			break
		}
	}
	require.NoError(t, g.LiftAs(ctx, acct, ban.LiftRequest{By: "customer-7", Fixed: ban.FixNewDevice}))
	checked := 0
	for i := range 10 {
		if guess(fmt.Sprintf("203.0.113.%d", 101+i)) == ban.Admitted {
			checked++
		}
	}
	r, ok := g.Record(acct)
	require.True(t, ok, "the account is guarded again")
	assert.Equal(t, ban.ScopeGuard, r.Scope)
	assert.Equal(t, 2, checked, "passwords checked after the lift")
}
