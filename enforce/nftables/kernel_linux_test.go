package nftables_test

import (
	"context"
	"log/slog"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/detect"
	"github.com/sipban/sipban/enforce"
	"github.com/sipban/sipban/enforce/enforcetest"
	"github.com/sipban/sipban/enforce/nftables"
	"github.com/sipban/sipban/internal/netnstest"
	"github.com/sipban/sipban/internal/scope/scopetest"
)

func TestMain(m *testing.M) { netnstest.Main(m) }

func open(t testing.TB, opts nftables.Options) *nftables.Enforcer {
	t.Helper()
	e, err := nftables.New(context.Background(), opts)
	require.NoError(t, err)
	return e
}

func nft(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("nft", args...).CombinedOutput()
	require.NoError(t, err, "nft %v: %s", args, out)
	return string(out)
}

// delivered reports whether a UDP datagram from a to port 5060 gets
// through: the default Options drop only the SIP ports.
func delivered(t testing.TB, a netip.Addr) bool {
	t.Helper()
	return scopetest.Reaches(t, "udp", a, 5060)
}

// TestConformance runs the enforcetest suite, answering Blocked with real
// packets through the kernel.
func TestConformance(t *testing.T) {
	netnstest.Require(t)
	enforcetest.Run(t, enforcetest.Harness{
		New: func(t *testing.T) enforce.Enforcer { return open(t, nftables.Options{}) },
		Blocked: func(t *testing.T, _ enforce.Enforcer, a netip.Addr) bool {
			return !delivered(t, a)
		},
	})
}

// TestScope runs the scopetest suite: ports, all ports and the allow-list,
// with real packets.
func TestScope(t *testing.T) {
	scopetest.Run(t, func(t *testing.T, o scopetest.Options) enforce.Enforcer {
		e := open(t, nftables.Options{Ports: o.Ports, AllPorts: o.AllPorts, Allow: o.Allow})
		t.Cleanup(func() { e.Close() })
		return e
	})
}

// TestCutsTrackedFlow: a UDP flow already in conntrack, accepted early by a
// stateful firewall, stops the moment its source is banned, and flows again
// when the ban is lifted. The flow goes to an ephemeral port, so the ban
// covers all ports; TestScope has the same on port 5060 with the default.
func TestCutsTrackedFlow(t *testing.T) {
	netnstest.Require(t)
	e := open(t, nftables.Options{AllPorts: true})
	defer e.Close()
	netnstest.CutsTrackedFlow(t, e)
}

// TestRestart: with Keep, bans outlive the Enforcer and a new one adopts
// them; without, Close removes everything it made.
func TestRestart(t *testing.T) {
	netnstest.Require(t)
	ctx := context.Background()
	until := time.Now().Add(time.Hour)
	e := open(t, nftables.Options{Table: "restart", Keep: true})
	require.NoError(t, e.Ban(ctx, netip.MustParsePrefix("127.0.0.2/32"), until))
	require.NoError(t, e.Ban(ctx, netip.MustParsePrefix("fd00:5ba:0:9::/64"), until))
	require.NoError(t, e.Close())
	require.NoError(t, e.Close(), "Close twice")
	assert.ErrorIs(t, e.Ban(ctx, netip.MustParsePrefix("127.0.0.3/32"), until), nftables.ErrClosed)

	assert.False(t, delivered(t, netip.MustParseAddr("127.0.0.2")), "dropped with no process behind it")

	e = open(t, nftables.Options{Table: "restart"})
	bans, err := e.List(ctx)
	require.NoError(t, err)
	require.Len(t, bans, 2)
	for _, b := range bans {
		assert.WithinDuration(t, until, b.Until, 2*time.Second, b.Prefix.String())
	}
	assert.False(t, delivered(t, netip.MustParseAddr("fd00:5ba:0:9::77")), "the adopted /64 still drops")
	require.NoError(t, e.Ban(ctx, netip.MustParsePrefix("127.0.0.3/32"), until))
	require.NoError(t, e.Close())

	assert.NotContains(t, nft(t, "list", "tables"), "restart", "Close without Keep removes the table")
	assert.True(t, delivered(t, netip.MustParseAddr("127.0.0.2")))
}

// TestTableRemoved: an operator's "nft flush ruleset" removes the table; the
// next change builds it again instead of failing forever.
func TestTableRemoved(t *testing.T) {
	netnstest.Require(t)
	e := open(t, nftables.Options{})
	defer e.Close()
	ctx := context.Background()
	require.NoError(t, e.Ban(ctx, netip.MustParsePrefix("127.0.0.2/32"), time.Now().Add(time.Hour)))
	nft(t, "flush", "ruleset")
	require.True(t, delivered(t, netip.MustParseAddr("127.0.0.2")))
	require.NoError(t, e.Ban(ctx, netip.MustParsePrefix("127.0.0.3/32"), time.Now().Add(time.Hour)))
	assert.False(t, delivered(t, netip.MustParseAddr("127.0.0.3")))
	require.NoError(t, e.Unban(ctx, netip.MustParsePrefix("127.0.0.2/32")))
}

// TestWhatItCreates pins the ruleset down: one inet table, a raw-priority
// prerouting chain, one timeout set and one rule per prefix class in use,
// matching the SIP ports and sparing the allow-list, held in interval sets.
func TestWhatItCreates(t *testing.T) {
	netnstest.Require(t)
	e := open(t, nftables.Options{Table: "shape", Allow: []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("10.1.0.0/16"),
		netip.MustParsePrefix("127.0.0.9/32"), netip.MustParsePrefix("2001:db8::/32"),
	}})
	defer e.Close()
	ctx := context.Background()
	hour := time.Now().Add(time.Hour)
	require.NoError(t, e.Ban(ctx, netip.MustParsePrefix("127.0.0.2/32"), hour))
	require.NoError(t, e.Ban(ctx, netip.MustParsePrefix("fd00:5ba:0:1::/64"), hour))
	out := nft(t, "list", "table", "inet", "shape")
	t.Log(out)
	for _, want := range []string{
		"type filter hook prerouting priority raw; policy accept;",
		"set v4_32 {", "set v6_64 {", "flags timeout",
		"set allow4 {", "set allow6 {", "flags interval",
		"elements = { 10.0.0.0/8, 127.0.0.9 }", "elements = { 2001:db8::/32 }",
		"ip saddr @v4_32 meta l4proto { tcp, udp } th dport { 5060, 5061 } ip saddr != @allow4 counter packets 0 bytes 0 drop",
		"ip6 saddr & ffff:ffff:ffff:ffff:: == @v6_64 meta l4proto { tcp, udp } th dport { 5060, 5061 } ip6 saddr != @allow6 counter packets 0 bytes 0 drop",
	} {
		assert.Contains(t, out, want)
	}
	assert.Equal(t, 2, strings.Count(out, " drop"))
}

// TestRestartOtherScope: a table kept by a run with other Ports, AllPorts
// or Allow gets this run's rules and allow-list; its bans carry over.
func TestRestartOtherScope(t *testing.T) {
	netnstest.Require(t)
	ctx := context.Background()
	src := netip.MustParseAddr("127.0.0.2")
	e := open(t, nftables.Options{Table: "scope", Keep: true})
	require.NoError(t, e.Ban(ctx, netip.PrefixFrom(src, 32), time.Now().Add(time.Hour)))
	require.NoError(t, e.Close())
	for _, tc := range []struct {
		name    string
		opts    nftables.Options
		reaches map[uint16]bool
		rule    string
	}{
		{"all ports", nftables.Options{AllPorts: true}, map[uint16]bool{5060: false, 8080: false}, "ip saddr @v4_32 ip saddr != @allow4 counter"},
		{"other port", nftables.Options{Ports: []uint16{8080}}, map[uint16]bool{5060: true, 8080: false}, "th dport { 8080 }"},
		{"allowed", nftables.Options{Allow: []netip.Prefix{netip.PrefixFrom(src, 32)}}, map[uint16]bool{5060: true, 5061: true}, "th dport { 5060, 5061 }"},
		{"default", nftables.Options{}, map[uint16]bool{5060: false, 8080: true}, "th dport { 5060, 5061 }"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Table, tc.opts.Keep = "scope", true
			e := open(t, tc.opts)
			defer e.Close()
			for port, want := range tc.reaches {
				assert.Equal(t, want, scopetest.Reaches(t, "udp", src, port), "port %d", port)
			}
			chain := nft(t, "list", "chain", "inet", "scope", "prerouting")
			assert.Contains(t, chain, tc.rule)
			assert.Equal(t, 1, strings.Count(chain, " drop"), "the old rule is gone:\n%s", chain)
		})
	}
	e = open(t, nftables.Options{Table: "scope"})
	require.NoError(t, e.Close())
}

// TestLongBan: a ban longer than the kernel takes is installed for
// MaxTimeout, not refused.
func TestLongBan(t *testing.T) {
	netnstest.Require(t)
	e := open(t, nftables.Options{})
	defer e.Close()
	ctx := context.Background()
	require.NoError(t, e.Ban(ctx, netip.MustParsePrefix("127.0.0.2/32"), time.Now().AddDate(1, 0, 0)))
	bans, err := e.List(ctx)
	require.NoError(t, err)
	require.Len(t, bans, 1)
	assert.WithinDuration(t, time.Now().Add(nftables.MaxTimeout), bans[0].Until, 2*time.Second)
}

// TestBatchLimit measures how many IPv6 elements with timeouts fit one
// netlink message, and that MaxBatchSize is that limit.
func TestBatchLimit(t *testing.T) {
	netnstest.Require(t)
	bans := func(n int) []enforce.Ban {
		out := make([]enforce.Ban, n)
		for i := range out {
			a := netip.AddrFrom16([16]byte{0xfd, 0, 0x05, 0xba, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, byte(i >> 8), byte(i)})
			out[i] = enforce.Ban{Prefix: netip.PrefixFrom(a, 128), Until: time.Now().Add(time.Hour)}
		}
		return out
	}
	fits := func(n int) bool {
		e := open(t, nftables.Options{Table: "limit", BatchSize: min(n, nftables.MaxBatchSize)})
		defer e.Close()
		if n > nftables.MaxBatchSize {
			// Past the option's bound: push one oversized message
			// through the test hook.
			return nftables.CommitOne(e, bans(n)) == nil
		}
		return e.BanAll(context.Background(), bans(n)) == nil
	}
	lo, hi := 1, 4096 // fits(lo), !fits(hi)
	require.True(t, fits(lo))
	require.False(t, fits(hi))
	for hi-lo > 1 {
		if mid := (lo + hi) / 2; fits(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	t.Logf("largest IPv6 batch in one netlink message: %d elements", lo)
	assert.Equal(t, nftables.MaxBatchSize, lo)
}

// TestGuardRestart: a Guard bans through nftables, the process "dies" (the
// table is kept), a new Guard reconciles, shows the ban, and lifting it
// reopens the kernel.
func TestGuardRestart(t *testing.T) {
	netnstest.Require(t)
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	src := netip.MustParseAddr("127.0.0.2")

	e := open(t, nftables.Options{Table: "guard", Keep: true})
	g, err := ban.New(ban.Options{Enforcers: []enforce.Enforcer{e}, Logger: quiet})
	require.NoError(t, err)
	for range 5 {
		ev := detect.Event{Source: netip.AddrPortFrom(src, 5060), Transport: "udp", Method: "REGISTER",
			Status: 403, Account: "alice", Credentials: true}
		require.NoError(t, g.Observe(ctx, &ev))
	}
	require.False(t, delivered(t, src), "banned in the kernel")
	until := g.Bans()[0].Until
	require.NoError(t, e.Close())

	e = open(t, nftables.Options{Table: "guard"})
	defer e.Close()
	g, err = ban.New(ban.Options{Enforcers: []enforce.Enforcer{e}, Logger: quiet})
	require.NoError(t, err)
	n, err := g.Reconcile(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	require.Len(t, g.Bans(), 1)
	assert.WithinDuration(t, until, g.Bans()[0].Until, 2*time.Second)
	assert.True(t, g.Banned(src))
	assert.False(t, delivered(t, src), "still dropped after the restart")

	require.NoError(t, g.Lift(ctx, detect.SubjectOf(src)))
	assert.True(t, delivered(t, src), "lifted in the kernel")
}

// TestGuardResync: a firewall reload flushes the whole ruleset, then
// someone empties the chain alone; each time a Resync puts the table, rules
// and bans back and the guesser is dropped again.
func TestGuardResync(t *testing.T) {
	netnstest.Require(t)
	ctx := context.Background()
	src := netip.MustParseAddr("127.0.0.2")
	e := open(t, nftables.Options{Table: "resync"})
	defer e.Close()
	g, err := ban.New(ban.Options{Enforcers: []enforce.Enforcer{e}, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	for range 5 {
		ev := detect.Event{Source: netip.AddrPortFrom(src, 5060), Transport: "udp", Method: "REGISTER",
			Status: 403, Account: "alice", Credentials: true}
		require.NoError(t, g.Observe(ctx, &ev))
	}
	require.False(t, delivered(t, src))
	before := nft(t, "-a", "list", "chain", "inet", "resync", "prerouting")
	n, err := g.Resync(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "nothing lost")
	assert.Equal(t, before, nft(t, "-a", "list", "chain", "inet", "resync", "prerouting"), "nothing rewritten: same rule handles, same counters")

	nft(t, "flush", "ruleset")
	require.True(t, delivered(t, src), "the flush took the ban")
	n, err = g.Resync(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.False(t, delivered(t, src), "dropped again")

	nft(t, "flush", "chain", "inet", "resync", "prerouting")
	require.True(t, delivered(t, src), "the rule is gone, the set is not")
	n, err = g.Resync(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "the set still held the ban")
	assert.False(t, delivered(t, src), "dropped again")
	assert.Equal(t, 1, strings.Count(nft(t, "list", "chain", "inet", "resync", "prerouting"), "drop"), "one rule, not two")
}

// TestListWhileGrowing: List right after 100,000 bans, while the kernel
// grows the sets' hash tables, returns each ban once. (A single dump then
// repeats about 5% of the elements in place of others.)
func TestListWhileGrowing(t *testing.T) {
	netnstest.Require(t)
	ctx := context.Background()
	e := open(t, nftables.Options{Table: "grow"})
	defer e.Close()
	bans := addrs(100_000)
	require.NoError(t, e.BanAll(ctx, bans))
	held, err := e.List(ctx)
	require.NoError(t, err)
	got := make(map[netip.Prefix]bool, len(held))
	for _, b := range held {
		got[b.Prefix] = true
	}
	assert.Equal(t, len(bans), len(held))
	assert.Equal(t, len(bans), len(got), "each ban once")
}
