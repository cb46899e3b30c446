package ban_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/detect"
	"github.com/sipban/sipban/enforce"
)

// kernelSet stands in for a kernel enforcer: a Memory that caps bans as
// nftables does, can be down, and can be flushed from outside, which its
// next Repair reports.
type kernelSet struct {
	*enforce.Memory
	now     func() time.Time
	cap     time.Duration // 0: none
	down    bool
	lost    bool
	repairs int
	onBan   func() // called once, as the next Ban begins
}

func (k *kernelSet) Ban(ctx context.Context, p netip.Prefix, until time.Time) error {
	if k.down {
		return errors.New("netlink: connection refused")
	}
	if f := k.onBan; f != nil {
		k.onBan = nil
		f()
	}
	if k.cap > 0 && until.After(k.now().Add(k.cap)) {
		until = k.now().Add(k.cap)
	}
	return k.Memory.Ban(ctx, p, until)
}

func (k *kernelSet) Repair(context.Context) (bool, error) {
	k.repairs++
	if k.down {
		return false, errors.New("netlink: connection refused")
	}
	lost := k.lost
	k.lost = false
	return lost, nil
}

func (k *kernelSet) MaxTimeout() time.Duration { return k.cap }

// flush empties the set as a firewall reload would.
func (k *kernelSet) flush(t *testing.T) {
	t.Helper()
	held, err := k.List(context.Background())
	require.NoError(t, err)
	for _, b := range held {
		require.NoError(t, k.Unban(context.Background(), b.Prefix))
	}
	k.lost = true
}

func newKernelSet(c *clock) *kernelSet {
	return &kernelSet{Memory: enforce.NewMemory(c.Now), now: c.Now}
}

func guess(from string) []req {
	return times(5, req{from: from, account: "1", creds: true, status: 403})
}

// guesserBanned returns a Guard that resyncs every minute with a kernelSet
// that caps bans at capAt (0: no cap), once it has banned the guesser
// 192.0.2.9.
func guesserBanned(t *testing.T, capAt time.Duration) (*clock, *kernelSet, *ban.Guard, netip.Addr) {
	t.Helper()
	c := newClock()
	k := newKernelSet(c)
	k.cap = capAt
	g := newGuard(t, c, ban.Options{Enforcers: []enforce.Enforcer{k}, ResyncEvery: time.Minute})
	require.NoError(t, send(t, g, c, guess("192.0.2.9:5060")...))
	return c, k, g, netip.MustParseAddr("192.0.2.9")
}

// TestResync: bans a kernel set lost (flushed from outside, or refused
// while it was down) are installed again; a ban the Guard does not know is
// left alone.
func TestResync(t *testing.T) {
	ctx := context.Background()
	c, k, g, guesser := guesserBanned(t, 0)
	n, err := g.Resync(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "nothing lost")
	assert.Equal(t, 1, k.repairs)

	k.flush(t)
	require.False(t, k.Blocked(guesser))
	n, err = g.Resync(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.True(t, k.Blocked(guesser), "installed again")
	rec, ok := g.Record(detect.SubjectOf(guesser))
	require.True(t, ok)
	held, err := k.List(ctx)
	require.NoError(t, err)
	assert.Equal(t, []enforce.Ban{{Prefix: netip.PrefixFrom(guesser, 32), Until: rec.Until}}, held, "with the Guard's end time")

	other := netip.MustParsePrefix("198.51.100.0/24")
	require.NoError(t, k.Memory.Ban(ctx, other, c.Now().Add(time.Hour)), "another program's ban")
	n, err = g.Resync(ctx)
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.True(t, k.Blocked(netip.MustParseAddr("198.51.100.1")), "not lifted")

	// Down when a ban is made: the ban fails there and holds in memory;
	// once the set is back, a Resync installs it and clears the error.
	k.down = true
	assert.Error(t, send(t, g, c, guess("192.0.2.10:5060")...))
	_, err = g.Resync(ctx)
	assert.ErrorContains(t, err, "connection refused")
	second := detect.SubjectOf(netip.MustParseAddr("192.0.2.10"))
	rec, ok = g.Record(second)
	require.True(t, ok)
	assert.Contains(t, rec.EnforceError, "connection refused", "still failing")
	k.down = false
	n, err = g.Resync(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.True(t, k.Blocked(second.Prefix.Addr()))
	rec, ok = g.Record(second)
	require.True(t, ok)
	assert.Empty(t, rec.EnforceError, "in force everywhere now")
}

// TestResyncCappedTimeout: a kernel that keeps a ban for at most 10 minutes
// gets a one-hour ban again each time less than two resync periods remain,
// so the ban holds for its whole hour, and ends with it.
func TestResyncCappedTimeout(t *testing.T) {
	ctx := context.Background()
	c, k, g, guesser := guesserBanned(t, 10*time.Minute)
	rec, ok := g.Record(detect.SubjectOf(guesser))
	require.True(t, ok)
	require.Equal(t, time.Hour, rec.Until.Sub(rec.Since))

	restored := 0
	for c.Now().Before(rec.Until) {
		assert.True(t, k.Blocked(guesser), "at %v of the ban", c.Now().Sub(rec.Since))
		n, err := g.Resync(ctx)
		require.NoError(t, err)
		restored += n
		_, err = g.Expire(ctx, c.Now())
		require.NoError(t, err)
		c.Advance(time.Minute)
	}
	assert.Equal(t, 6, restored, "installed again at 9, 18, 27, 36, 45 and 54 minutes")
	_, err := g.Expire(ctx, c.Now())
	require.NoError(t, err)
	assert.False(t, k.Blocked(guesser), "ended with the Guard's ban")
}

// TestResyncNeverUndoesALift: a ban lifted while Resync installs it again
// ends lifted, not back in the set.
func TestResyncNeverUndoesALift(t *testing.T) {
	ctx := context.Background()
	_, k, g, guesser := guesserBanned(t, 0)
	k.flush(t)
	// The lift starts just as Resync installs the ban again, and is
	// given the time to finish first if nothing holds it back.
	lifted := make(chan error, 1)
	k.onBan = func() {
		go func() { lifted <- g.Lift(ctx, detect.SubjectOf(guesser)) }()
		time.Sleep(20 * time.Millisecond)
	}
	n, err := g.Resync(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	require.NoError(t, <-lifted)
	assert.False(t, k.Blocked(guesser), "the lifted ban was put back")
	assert.False(t, g.Banned(guesser))
}

// TestRunResyncs: Run calls Resync every ResyncEvery.
func TestRunResyncs(t *testing.T) {
	c := newClock()
	k := newKernelSet(c)
	g := newGuard(t, c, ban.Options{Enforcers: []enforce.Enforcer{k}, ResyncEvery: 10 * time.Millisecond})
	guesser := netip.MustParseAddr("192.0.2.9")
	require.NoError(t, send(t, g, c, guess(guesser.String()+":5060")...))
	k.flush(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for !k.Blocked(guesser) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	assert.True(t, k.Blocked(guesser), "installed again by Run")
}
