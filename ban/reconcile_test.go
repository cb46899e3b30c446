package ban_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/detect"
	"github.com/sipban/sipban/enforce"
)

// TestReconcile: a kernel set left by an earlier run (here a second Memory,
// which lists its bans as a kernel set does) holds bans the new Guard never
// made; Reconcile adopts them, lifts the allow-listed one, and installs the
// Guard's own bans in the set.
func TestReconcile(t *testing.T) {
	c := newClock()
	ctx := context.Background()
	kernel := enforce.NewMemory(c.Now)
	pfx := netip.MustParsePrefix
	require.NoError(t, kernel.Ban(ctx, pfx("198.51.100.7/32"), c.Now().Add(30*time.Minute)))
	require.NoError(t, kernel.Ban(ctx, pfx("2001:db8:1:2::/64"), c.Now().Add(2*time.Hour)))
	require.NoError(t, kernel.Ban(ctx, pfx("10.1.2.3/32"), c.Now().Add(time.Hour)))
	require.NoError(t, kernel.Ban(ctx, pfx("203.0.113.5/32"), c.Now().Add(time.Second)))

	g := newGuard(t, c, ban.Options{
		Enforcers: []enforce.Enforcer{kernel},
		Policy:    ban.Policy{Allow: []netip.Prefix{pfx("10.0.0.0/8")}},
	})
	// The Guard bans one address of its own before reconciling; the set
	// then loses it.
	require.NoError(t, send(t, g, c, times(5, req{from: "192.0.2.9:5060", account: "1", creds: true, status: 403})...))
	require.NoError(t, kernel.Unban(ctx, pfx("192.0.2.9/32")), "as if the set had been flushed")

	n, err := g.Reconcile(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, n, "the allow-listed ban and the expired one are not adopted")

	r, ok := g.Record(detect.Subject{Prefix: pfx("2001:db8:1:2::/64")})
	require.True(t, ok)
	assert.Equal(t, detect.CauseUnknown, r.Cause)
	assert.Equal(t, "address", r.Scope)
	assert.Equal(t, c.Now().Add(2*time.Hour-5*time.Second), r.Until, "the kernel's remaining time")
	assert.Equal(t, "found in *enforce.Memory at start-up", r.Evidence.Detail)
	assert.Equal(t, ban.CauseUnknown, r.Diagnosis.Cause)
	b, err := json.Marshal(r)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"cause":"unknown"`)
	var back ban.Record
	require.NoError(t, json.Unmarshal(b, &back), "an adopted record round-trips")

	assert.True(t, g.Banned(netip.MustParseAddr("2001:db8:1:2::99")), "adopted bans are enforced in memory")
	assert.True(t, g.Banned(netip.MustParseAddr("198.51.100.7")))
	assert.False(t, g.Banned(netip.MustParseAddr("10.1.2.3")))
	assert.False(t, kernel.Blocked(netip.MustParseAddr("10.1.2.3")), "allow-listed ban lifted in the set")
	assert.True(t, kernel.Blocked(netip.MustParseAddr("192.0.2.9")), "the Guard's own ban is back in the set")

	// An adopted ban lifts like any other, in the set too.
	require.NoError(t, g.Lift(ctx, detect.Subject{Prefix: pfx("198.51.100.7/32")}))
	assert.False(t, kernel.Blocked(netip.MustParseAddr("198.51.100.7")))

	n, err = g.Reconcile(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "a second reconcile adopts nothing")
}

// brokenLister cannot list (its kernel went away) and counts what it is asked.
type brokenLister struct{ failing }

func (*brokenLister) List(context.Context) ([]enforce.Ban, error) {
	return nil, errors.New("netlink: connection refused")
}

func TestReconcileFailingEnforcer(t *testing.T) {
	c := newClock()
	bad := &brokenLister{}
	good := enforce.NewMemory(c.Now)
	g := newGuard(t, c, ban.Options{Enforcers: []enforce.Enforcer{bad, good}})
	_ = send(t, g, c, times(5, req{from: "192.0.2.9:5060", account: "1", creds: true, status: 403})...)
	require.NoError(t, good.Unban(context.Background(), netip.MustParsePrefix("192.0.2.9/32")))
	n, err := g.Reconcile(context.Background())
	assert.Zero(t, n)
	assert.ErrorContains(t, err, "connection refused")
	assert.ErrorContains(t, err, "operation not permitted")
	assert.True(t, good.Blocked(netip.MustParseAddr("192.0.2.9")), "the other enforcer is still brought up to date")
}

// TestEventStringsMayAlias: event strings may point into the caller's buffer
// (a capture reader reuses it), so a record must not change when the buffer
// does.
func TestEventStringsMayAlias(t *testing.T) {
	c := newClock()
	g := newGuard(t, c, ban.Options{})
	buf := []byte("alice Yealink SIP-T46S")
	for range 5 {
		c.Advance(time.Second)
		ev := detect.Event{Source: netip.MustParseAddrPort("192.0.2.9:5060"), Transport: "udp", Method: "REGISTER",
			Account: unsafe.String(&buf[0], 5), UserAgent: unsafe.String(&buf[6], len(buf)-6), Credentials: true, Status: 403}
		require.NoError(t, g.Observe(context.Background(), &ev))
	}
	copy(buf, "XXXXXXXXXXXXXXXXXXXXXX")
	bans := g.Bans()
	require.Len(t, bans, 1)
	assert.Equal(t, []string{"alice"}, bans[0].Evidence.Accounts)
	assert.Equal(t, []string{"Yealink SIP-T46S"}, bans[0].Evidence.UserAgents)
	assert.NotContains(t, bans[0].Diagnosis.Summary+bans[0].Diagnosis.Device+bans[0].Evidence.Detail, "XXX")
}

// batching is a Memory that counts how it is asked to lift bans.
type batching struct {
	*enforce.Memory
	one, all, lifted int
}

func (b *batching) Unban(ctx context.Context, p netip.Prefix) error {
	b.one++
	return b.Memory.Unban(ctx, p)
}

func (b *batching) BanAll(ctx context.Context, bans []enforce.Ban) error {
	for _, x := range bans {
		if err := b.Memory.Ban(ctx, x.Prefix, x.Until); err != nil {
			return err
		}
	}
	return nil
}

func (b *batching) UnbanAll(ctx context.Context, ps []netip.Prefix) error {
	b.all++
	b.lifted += len(ps)
	for _, p := range ps {
		if err := b.Memory.Unban(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// TestExpireBatches: bans that end together are lifted in one batch per
// enforcer that takes batches.
func TestExpireBatches(t *testing.T) {
	c := newClock()
	k := &batching{Memory: enforce.NewMemory(c.Now)}
	g := newGuard(t, c, ban.Options{Enforcers: []enforce.Enforcer{k}})
	for i, from := range []string{"192.0.2.1:5060", "192.0.2.2:5060", "192.0.2.3:5060"} {
		require.NoError(t, send(t, g, c, times(5, req{from: from, account: fmt.Sprint(i), creds: true, status: 403})...))
	}
	require.Len(t, g.Bans(), 3)
	c.Advance(2 * time.Hour)
	n, err := g.Expire(context.Background(), c.Now())
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	assert.Equal(t, 1, k.all)
	assert.Equal(t, 3, k.lifted)
	assert.Zero(t, k.one)
	assert.False(t, k.Blocked(netip.MustParseAddr("192.0.2.2")))
}
