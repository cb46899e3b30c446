package iptables_test

import (
	"context"
	"errors"
	"fmt"
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
	"github.com/sipban/sipban/enforce/iptables"
	"github.com/sipban/sipban/internal/netnstest"
	"github.com/sipban/sipban/internal/scope/scopetest"
)

func TestMain(m *testing.M) { netnstest.Main(m) }

var (
	pfx  = netip.MustParsePrefix
	addr = netip.MustParseAddr
)

func open(t testing.TB, opts iptables.Options) *iptables.Enforcer {
	t.Helper()
	e, err := iptables.New(context.Background(), opts)
	require.NoError(t, err)
	return e
}

// sh runs a command (iptables, ipset) inside the test's namespace.
func sh(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	require.NoError(t, err, "%s %v: %s", name, args, out)
	return string(out)
}

// rules returns the raw PREROUTING rules of both families that match a set.
func rules(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, cmd := range []string{"iptables", "ip6tables"} {
		for line := range strings.Lines(sh(t, cmd, "-t", "raw", "-S", "PREROUTING")) {
			if strings.Contains(line, "--match-set") {
				out = append(out, cmd+" "+strings.TrimSpace(line))
			}
		}
	}
	return out
}

func sets(t testing.TB) []string {
	t.Helper()
	return strings.Fields(sh(t, "ipset", "list", "-n"))
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
		New: func(t *testing.T) enforce.Enforcer { return open(t, iptables.Options{}) },
		Blocked: func(t *testing.T, _ enforce.Enforcer, a netip.Addr) bool {
			return !delivered(t, a)
		},
		Resolution: time.Second,
	})
}

// TestScope runs the scopetest suite: ports, all ports and the allow-list,
// with real packets.
func TestScope(t *testing.T) {
	scopetest.Run(t, func(t *testing.T, o scopetest.Options) enforce.Enforcer {
		e := open(t, iptables.Options{Ports: o.Ports, AllPorts: o.AllPorts, Allow: o.Allow})
		t.Cleanup(func() { e.Close() })
		return e
	})
}

// TestCreates shows what New puts in the kernel, and that Close without
// Keep takes it all away.
func TestCreates(t *testing.T) {
	netnstest.Require(t)
	e := open(t, iptables.Options{})
	assert.Equal(t, []string{
		"iptables -A PREROUTING -p udp -m multiport --dports 5060,5061 -m set --match-set sipban4 src -m set ! --match-set sipban4a src -m comment --comment sipban -j DROP",
		"iptables -A PREROUTING -p tcp -m multiport --dports 5060,5061 -m set --match-set sipban4 src -m set ! --match-set sipban4a src -m comment --comment sipban -j DROP",
		"ip6tables -A PREROUTING -p udp -m multiport --dports 5060,5061 -m set --match-set sipban6 src -m set ! --match-set sipban6a src -m comment --comment sipban -j DROP",
		"ip6tables -A PREROUTING -p tcp -m multiport --dports 5060,5061 -m set --match-set sipban6 src -m set ! --match-set sipban6a src -m comment --comment sipban -j DROP",
	}, rules(t))
	assert.ElementsMatch(t, []string{"sipban4", "sipban6", "sipban4a", "sipban6a"}, sets(t))
	hdr := sh(t, "ipset", "list", "-t", "sipban6")
	assert.Contains(t, hdr, "Type: hash:net")
	assert.Contains(t, hdr, "family inet6")
	assert.Contains(t, hdr, fmt.Sprintf("maxelem %d", iptables.DefaultMaxElem))
	assert.Contains(t, hdr, "timeout 0")
	require.NoError(t, e.Close())
	require.NoError(t, e.Close(), "Close twice")
	assert.Empty(t, rules(t))
	assert.Empty(t, sets(t))
	assert.ErrorIs(t, e.Ban(context.Background(), pfx("127.0.0.2/32"), time.Now().Add(time.Hour)), iptables.ErrClosed)
	_, err := e.List(context.Background())
	assert.ErrorIs(t, err, iptables.ErrClosed)
}

// TestCutsTrackedFlow: a UDP flow already in conntrack, accepted early by a
// stateful firewall, stops the moment its source is banned, and flows again
// when the ban is lifted. The flow goes to an ephemeral port, so the ban
// covers all ports; TestScope has the same on port 5060 with the default.
func TestCutsTrackedFlow(t *testing.T) {
	netnstest.Require(t)
	e := open(t, iptables.Options{AllPorts: true})
	defer e.Close()
	netnstest.CutsTrackedFlow(t, e)
}

// TestFull: a set holding MaxElem bans refuses the next with ErrFull, keeps
// the ones it has, and still takes a new expiry for one of them.
func TestFull(t *testing.T) {
	netnstest.Require(t)
	e := open(t, iptables.Options{Name: "full", MaxElem: 8})
	defer e.Close()
	ctx, hour := context.Background(), time.Now().Add(time.Hour)
	for i := range 8 {
		require.NoError(t, e.Ban(ctx, netip.PrefixFrom(netip.AddrFrom4([4]byte{127, 0, 1, byte(i)}), 32), hour))
	}
	err := e.Ban(ctx, pfx("127.0.1.8/32"), hour)
	require.ErrorIs(t, err, iptables.ErrFull)
	t.Log(err)
	assert.Contains(t, err.Error(), "full4")
	assert.Contains(t, err.Error(), "maxelem 8")
	for i := range 8 {
		assert.False(t, delivered(t, netip.AddrFrom4([4]byte{127, 0, 1, byte(i)})), "ban %d holds", i)
	}
	assert.True(t, delivered(t, addr("127.0.1.8")))
	require.NoError(t, e.Ban(ctx, pfx("127.0.1.3/32"), time.Now().Add(time.Minute)), "a new expiry fits a full set")
	// The IPv6 set is apart and has room; a batch that overflows fails too.
	var bans []enforce.Ban
	for i := range 9 {
		bans = append(bans, enforce.Ban{Prefix: netip.PrefixFrom(netip.AddrFrom16([16]byte{0xfd, 0, 0x05, 0xba, 15: byte(i)}), 128), Until: hour})
	}
	require.ErrorIs(t, e.BanAll(ctx, bans), iptables.ErrFull)
	l, err := e.List(ctx)
	require.NoError(t, err)
	assert.Len(t, l, 16)
	// Lifting one makes room.
	require.NoError(t, e.Unban(ctx, pfx("127.0.1.0/32")))
	require.NoError(t, e.Ban(ctx, pfx("127.0.1.8/32"), hour))
}

// TestRestart: with Keep the bans outlive the Enforcer and the next New
// adopts them; without Keep Close leaves nothing behind.
func TestRestart(t *testing.T) {
	netnstest.Require(t)
	ctx := context.Background()
	until := time.Now().Add(time.Hour)
	e := open(t, iptables.Options{Name: "rst", Keep: true})
	require.NoError(t, e.BanAll(ctx, []enforce.Ban{
		{Prefix: pfx("127.0.0.2/32"), Until: until},
		{Prefix: pfx("fd00:5ba:0:9::/64"), Until: until},
	}))
	require.NoError(t, e.Close())
	assert.Len(t, rules(t), 4, "kept")
	assert.False(t, delivered(t, addr("127.0.0.2")), "no process, still dropped")
	assert.False(t, delivered(t, addr("fd00:5ba:0:9::1")))

	e = open(t, iptables.Options{Name: "rst"})
	assert.Len(t, rules(t), 4, "New adds no second rule")
	l, err := e.List(ctx)
	require.NoError(t, err)
	require.Len(t, l, 2)
	for _, b := range l {
		assert.Contains(t, []netip.Prefix{pfx("127.0.0.2/32"), pfx("fd00:5ba:0:9::/64")}, b.Prefix)
		assert.WithinDuration(t, until, b.Until, 2*time.Second)
	}
	assert.False(t, delivered(t, addr("127.0.0.2")))
	require.NoError(t, e.Close())
	assert.Empty(t, rules(t))
	assert.Empty(t, sets(t))
	assert.True(t, delivered(t, addr("127.0.0.2")))
}

// TestRestartOtherScope: sets and rules kept by a run with other Ports,
// AllPorts or Allow get this run's rules and allow-list, the old rules
// deleted; the bans carry over.
func TestRestartOtherScope(t *testing.T) {
	netnstest.Require(t)
	ctx := context.Background()
	src := addr("127.0.0.2")
	e := open(t, iptables.Options{Name: "scp", Keep: true})
	require.NoError(t, e.Ban(ctx, netip.PrefixFrom(src, 32), time.Now().Add(time.Hour)))
	require.NoError(t, e.Close())
	// A rule as releases before ports matched wrote it.
	sh(t, "iptables", "-t", "raw", "-I", "PREROUTING", "1", "-m", "set", "--match-set", "scp4", "src", "-m", "comment", "--comment", "sipban", "-j", "DROP")
	for _, tc := range []struct {
		name    string
		opts    iptables.Options
		reaches map[uint16]bool
		rules   []string
		allowed string
		allow6  []string
	}{
		{"all ports", iptables.Options{AllPorts: true}, map[uint16]bool{5060: false, 8080: false},
			[]string{"-A PREROUTING -m set --match-set scp4 src -m set ! --match-set scp4a src -m comment --comment sipban -j DROP"}, "", nil},
		{"other port", iptables.Options{Ports: []uint16{8080, 5080}}, map[uint16]bool{5060: true, 5080: false, 8080: false},
			[]string{
				"-A PREROUTING -p udp -m multiport --dports 5080,8080 -m set --match-set scp4 src -m set ! --match-set scp4a src -m comment --comment sipban -j DROP",
				"-A PREROUTING -p tcp -m multiport --dports 5080,8080 -m set --match-set scp4 src -m set ! --match-set scp4a src -m comment --comment sipban -j DROP",
			}, "", nil},
		{"allowed", iptables.Options{Allow: []netip.Prefix{pfx("127.0.0.0/30"), pfx("::/0")}}, map[uint16]bool{5060: true, 5061: true}, nil, "127.0.0.0/30 timeout 0",
			[]string{"\n::/1 timeout 0\n", "\n8000::/1 timeout 0\n"}}, // hash:net cannot hold a /0
		{"default", iptables.Options{}, map[uint16]bool{5060: false, 8080: true}, nil, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Name, tc.opts.Keep = "scp", true
			e := open(t, tc.opts)
			defer e.Close()
			for port, want := range tc.reaches {
				assert.Equal(t, want, scopetest.Reaches(t, "udp", src, port), "port %d", port)
			}
			var v4 []string
			for _, r := range rules(t) {
				if r, ok := strings.CutPrefix(r, "iptables "); ok {
					v4 = append(v4, r)
				}
			}
			if tc.rules != nil {
				assert.Equal(t, tc.rules, v4)
			} else {
				assert.Len(t, v4, 2)
			}
			members := strings.TrimSpace(sh(t, "ipset", "list", "scp4a"))
			_, members, _ = strings.Cut(members, "Members:")
			assert.Equal(t, tc.allowed, strings.TrimSpace(members), "the allow set holds this run's list only")
			for _, m := range tc.allow6 {
				assert.Contains(t, sh(t, "ipset", "list", "scp6a"), m)
			}
		})
	}
	e = open(t, iptables.Options{Name: "scp"})
	require.NoError(t, e.Close())
	assert.Empty(t, rules(t))
	assert.Empty(t, sets(t))
}

// TestResize: a set kept with another maxelem is rebuilt to the new one,
// bans and rule intact; one holding more bans than the new maxelem is left
// alone and New fails with ErrFull.
func TestResize(t *testing.T) {
	netnstest.Require(t)
	ctx := context.Background()
	e := open(t, iptables.Options{Name: "rsz", MaxElem: 8, Keep: true})
	for i := range 5 {
		require.NoError(t, e.Ban(ctx, netip.PrefixFrom(netip.AddrFrom4([4]byte{127, 0, 2, byte(i)}), 32), time.Now().Add(time.Hour)))
	}
	require.NoError(t, e.Close())

	_, err := iptables.New(ctx, iptables.Options{Name: "rsz", MaxElem: 4, Keep: true})
	require.ErrorIs(t, err, iptables.ErrFull)
	t.Log(err)
	assert.Contains(t, sh(t, "ipset", "list", "-t", "rsz4"), "maxelem 8")
	assert.ElementsMatch(t, []string{"rsz4", "rsz6", "rsz4a", "rsz6a"}, sets(t), "no leftover")

	e = open(t, iptables.Options{Name: "rsz", MaxElem: 1000})
	defer e.Close()
	assert.Contains(t, sh(t, "ipset", "list", "-t", "rsz4"), "maxelem 1000")
	assert.Contains(t, sh(t, "ipset", "list", "-t", "rsz6"), "maxelem 1000")
	assert.ElementsMatch(t, []string{"rsz4", "rsz6", "rsz4a", "rsz6a"}, sets(t))
	assert.Len(t, rules(t), 4)
	l, err := e.List(ctx)
	require.NoError(t, err)
	assert.Len(t, l, 5)
	for _, b := range l {
		assert.WithinDuration(t, time.Now().Add(time.Hour), b.Until, 3*time.Second)
	}
	assert.False(t, delivered(t, addr("127.0.2.4")), "the rule follows the swap")
	for i := 5; i < 20; i++ {
		require.NoError(t, e.Ban(ctx, netip.PrefixFrom(netip.AddrFrom4([4]byte{127, 0, 2, byte(i)}), 32), time.Now().Add(time.Hour)))
	}
}

// TestForeignSet: a set by the Enforcer's name but of another type or
// family is not adopted.
func TestForeignSet(t *testing.T) {
	netnstest.Require(t)
	for _, tc := range []struct{ name, create, want string }{
		{"hip", "hash:ip family inet timeout 0", "exists as hash:ip family inet with timeouts"},
		{"fam", "hash:net family inet6 timeout 0", "exists as hash:net family inet6"},
		{"not", "hash:net family inet", "without timeouts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sh(t, "ipset", append([]string{"create", tc.name + "4"}, strings.Fields(tc.create)...)...)
			defer sh(t, "ipset", "destroy", tc.name+"4")
			_, err := iptables.New(context.Background(), iptables.Options{Name: tc.name})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Empty(t, rules(t))
		})
	}
}

// TestReplaceShorter: a second ban replaces the kernel timeout, shorter as
// well as longer (ipset's -exist).
func TestReplaceShorter(t *testing.T) {
	netnstest.Require(t)
	e := open(t, iptables.Options{})
	defer e.Close()
	ctx, now := context.Background(), time.Now()
	p := pfx("fd00:5ba:0:3::/64")
	require.NoError(t, e.Ban(ctx, p, now.Add(time.Hour)))
	require.NoError(t, e.Ban(ctx, p, now.Add(10*time.Second)))
	until := listed(t, e, p)
	assert.WithinDuration(t, now.Add(10*time.Second), until, 1500*time.Millisecond)
	require.NoError(t, e.Ban(ctx, p, now.Add(2*time.Hour)))
	assert.WithinDuration(t, now.Add(2*time.Hour), listed(t, e, p), 1500*time.Millisecond)
}

func listed(t *testing.T, e *iptables.Enforcer, p netip.Prefix) time.Time {
	t.Helper()
	l, err := e.List(context.Background())
	require.NoError(t, err)
	for _, b := range l {
		if b.Prefix == p {
			return b.Until
		}
	}
	t.Fatalf("%v not listed in %v", p, l)
	return time.Time{}
}

// TestTimes: a ban already past lifts one in place; one beyond ipset's
// longest timeout gets that; a fraction of a second is a whole second.
func TestTimes(t *testing.T) {
	netnstest.Require(t)
	e := open(t, iptables.Options{})
	defer e.Close()
	ctx, now := context.Background(), time.Now()
	require.NoError(t, e.Ban(ctx, pfx("127.0.0.2/32"), now.Add(time.Hour)))
	require.NoError(t, e.Ban(ctx, pfx("127.0.0.2/32"), now.Add(-time.Second)))
	assert.True(t, delivered(t, addr("127.0.0.2")), "a past expiry lifts the ban")
	require.NoError(t, e.Ban(ctx, pfx("127.0.0.3/32"), now.Add(-time.Second)))
	assert.True(t, delivered(t, addr("127.0.0.3")), "and installs none")

	require.NoError(t, e.Ban(ctx, pfx("127.0.0.4/32"), now.Add(100*24*time.Hour)))
	assert.WithinDuration(t, now.Add(iptables.MaxTimeout), listed(t, e, pfx("127.0.0.4/32")), 2*time.Second)
	require.NoError(t, e.Ban(ctx, pfx("127.0.0.5/32"), time.Now().Add(time.Millisecond)))
	assert.False(t, delivered(t, addr("127.0.0.5")), "a millisecond is a second")
}

// TestZeroPrefix: hash:net cannot hold a /0, so Ban refuses one and Unban
// has nothing to lift.
func TestZeroPrefix(t *testing.T) {
	netnstest.Require(t)
	e := open(t, iptables.Options{})
	defer e.Close()
	ctx := context.Background()
	for _, p := range []netip.Prefix{pfx("0.0.0.0/0"), pfx("::/0")} {
		err := e.Ban(ctx, p, time.Now().Add(time.Hour))
		require.Error(t, err, p)
		assert.Contains(t, err.Error(), "/0")
		assert.NoError(t, e.Unban(ctx, p))
	}
	err := e.BanAll(ctx, []enforce.Ban{{Prefix: pfx("127.0.0.2/32"), Until: time.Now().Add(time.Hour)}, {Prefix: pfx("::/0"), Until: time.Now().Add(time.Hour)}})
	require.Error(t, err)
	l, err := e.List(ctx)
	require.NoError(t, err)
	assert.Empty(t, l, "a batch with a bad prefix changes nothing")
}

// TestRebuild: a set removed from outside (rule first, as the kernel
// insists) is built again, rule and all, by the next ban.
func TestRebuild(t *testing.T) {
	netnstest.Require(t)
	e := open(t, iptables.Options{Name: "rbd"})
	defer e.Close()
	ctx := context.Background()
	sh(t, "iptables", "-t", "raw", "-F", "PREROUTING")
	sh(t, "ipset", "destroy", "rbd4")
	require.NoError(t, e.Unban(ctx, pfx("127.0.0.2/32")), "nothing to lift")
	require.NoError(t, e.Ban(ctx, pfx("127.0.0.2/32"), time.Now().Add(time.Hour)))
	assert.False(t, delivered(t, addr("127.0.0.2")))
	assert.Len(t, rules(t), 4)
}

// TestOtherErrors: only "element not in the set" is forgiven on Unban;
// anything else, here a set of the wrong family put in place of the
// Enforcer's, is an error.
func TestOtherErrors(t *testing.T) {
	netnstest.Require(t)
	e := open(t, iptables.Options{Name: "oth"})
	ctx := context.Background()
	sh(t, "iptables", "-t", "raw", "-F", "PREROUTING")
	sh(t, "ipset", "destroy", "oth4")
	sh(t, "ipset", "create", "oth4", "hash:net", "family", "inet6", "timeout", "0")
	err := e.Unban(ctx, pfx("127.0.0.2/32"))
	require.Error(t, err)
	t.Log(err)
	require.Error(t, e.Ban(ctx, pfx("127.0.0.2/32"), time.Now().Add(time.Hour)))
	// Close finds its rules by reading the chain, not by asking iptables
	// for each (which refuses to look for a rule on an IPv6 set).
	assert.NoError(t, e.Close())
	assert.Empty(t, sets(t), "Close removes what is left")
}

// TestCancelled: a batch with a cancelled context changes nothing.
func TestCancelled(t *testing.T) {
	netnstest.Require(t)
	e := open(t, iptables.Options{})
	defer e.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var bans []enforce.Ban
	for i := range 3000 {
		bans = append(bans, enforce.Ban{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{127, 40, byte(i >> 8), byte(i)}), 32), Until: time.Now().Add(time.Hour)})
	}
	require.ErrorIs(t, e.BanAll(ctx, bans), context.Canceled)
	_, err := iptables.New(ctx, iptables.Options{})
	require.ErrorIs(t, err, context.Canceled)
	l, err := e.List(context.Background())
	require.NoError(t, err)
	assert.Empty(t, l)
}

func TestErrorsAreWrapped(t *testing.T) {
	netnstest.Require(t)
	e := open(t, iptables.Options{Name: "wrp", MaxElem: 1})
	defer e.Close()
	ctx := context.Background()
	require.NoError(t, e.Ban(ctx, pfx("127.0.0.2/32"), time.Now().Add(time.Hour)))
	err := e.Ban(ctx, pfx("127.0.0.3/32"), time.Now().Add(time.Hour))
	assert.True(t, errors.Is(err, iptables.ErrFull))
	assert.True(t, strings.HasPrefix(err.Error(), "iptables: "), err.Error())
}

// TestGuardReportsFull: a Guard whose ipset is full says so: Observe returns
// the error, wrapping ErrFull, and the ban's record carries it. The ban
// still holds in the Guard's memory.
func TestGuardReportsFull(t *testing.T) {
	netnstest.Require(t)
	e := open(t, iptables.Options{Name: "grd", MaxElem: 1})
	defer e.Close()
	g, err := ban.New(ban.Options{Enforcers: []enforce.Enforcer{e}, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	guess := func(from string) error {
		var errs []error
		for range 5 {
			ev := detect.Event{Source: netip.MustParseAddrPort(from), Transport: "udp", Method: "REGISTER",
				Account: "100", Credentials: true, Status: 403}
			errs = append(errs, g.Observe(context.Background(), &ev))
		}
		return errors.Join(errs...)
	}
	require.NoError(t, guess("127.0.0.2:5060"))
	assert.False(t, delivered(t, addr("127.0.0.2")))
	err = guess("127.0.0.3:5060")
	require.ErrorIs(t, err, iptables.ErrFull)
	t.Log(err)
	r, ok := g.Record(detect.Subject{Prefix: pfx("127.0.0.3/32")})
	require.True(t, ok)
	assert.Contains(t, r.EnforceError, "ipset full")
	assert.True(t, g.Banned(addr("127.0.0.3")), "held in memory")
	assert.True(t, delivered(t, addr("127.0.0.3")), "not in the kernel")
}

// TestGuardResync: the rule is flushed from raw PREROUTING, later the rule
// and the set both go; each time a Resync puts them and the ban back.
func TestGuardResync(t *testing.T) {
	netnstest.Require(t)
	ctx := context.Background()
	e := open(t, iptables.Options{Name: "rsy"})
	defer e.Close()
	g, err := ban.New(ban.Options{Enforcers: []enforce.Enforcer{e}, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	for range 5 {
		ev := detect.Event{Source: netip.MustParseAddrPort("127.0.0.2:5060"), Transport: "udp", Method: "REGISTER",
			Account: "100", Credentials: true, Status: 403}
		require.NoError(t, g.Observe(ctx, &ev))
	}
	require.False(t, delivered(t, addr("127.0.0.2")))

	sh(t, "iptables", "-t", "raw", "-F", "PREROUTING")
	require.True(t, delivered(t, addr("127.0.0.2")), "the set holds the ban, no rule uses it")
	n, err := g.Resync(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "the set still held the ban")
	assert.False(t, delivered(t, addr("127.0.0.2")), "dropped again")
	assert.Len(t, rules(t), 4, "two rules per family, not four")

	sh(t, "iptables", "-t", "raw", "-F", "PREROUTING")
	sh(t, "ipset", "destroy", "rsy4")
	n, err = g.Resync(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.False(t, delivered(t, addr("127.0.0.2")), "dropped again")
}
