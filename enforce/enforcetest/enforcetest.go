// Package enforcetest is a conformance suite for enforce.Enforcer
// implementations, in the spirit of testing/slogtest:
//
//	func TestConformance(t *testing.T) {
//		enforcetest.Run(t, enforcetest.Harness{New: ..., Blocked: ...})
//	}
//
// It checks ban and unban, prefixes of every length, IPv6, masking,
// idempotence, replacing an expiry (longer and shorter), expiry itself,
// invalid prefixes, a cancelled context, concurrent use, and, where the
// enforcer implements them, enforce.Lister and enforce.Batcher.
//
// The suite's addresses are in 127.0.0.0/8 and in V6Net, never 127.0.0.1
// and never ::1, so that a harness can answer Blocked by sending real packets
// from them to a receiver on 127.0.0.1 or ::1 inside a network namespace
// (internal/netnstest has such a prober).
package enforcetest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sipban/sipban/enforce"
)

// V6Net holds every IPv6 address the suite uses: a unique-local /48 that a
// harness can send from inside its namespace (IPV6_FREEBIND).
var V6Net = netip.MustParsePrefix("fd00:5ba::/48")

// Harness describes the enforcer under test.
type Harness struct {
	// New returns a fresh enforcer holding no bans. The suite closes it
	// at the end of the subtest if it implements enforce.Closer.
	New func(t *testing.T) enforce.Enforcer
	// Blocked reports whether traffic from addr is blocked right now: the
	// enforcer's own answer for an in-process one, the kernel's (a packet
	// sent from addr) for a kernel one.
	Blocked func(t *testing.T, e enforce.Enforcer, addr netip.Addr) bool
	// Now is the clock bans are set against; nil means time.Now.
	Now func() time.Time
	// Wait lets d pass on that clock: a fake clock advances, a kernel
	// test sleeps. Nil means time.Sleep.
	Wait func(d time.Duration)
	// Resolution is how finely the enforcer keeps expiry times (ipset:
	// whole seconds). Zero means 10ms.
	Resolution time.Duration
	// Concurrency is how many bans each of four goroutines makes in the
	// concurrency test. Zero means 100.
	Concurrency int
}

func (h *Harness) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Harness) wait(d time.Duration) {
	if h.Wait != nil {
		h.Wait(d)
		return
	}
	time.Sleep(d)
}

func (h *Harness) res() time.Duration {
	if h.Resolution > 0 {
		return h.Resolution
	}
	return 10 * time.Millisecond
}

// Run runs the suite, one subtest per behaviour.
func Run(t *testing.T, h Harness) {
	if h.New == nil || h.Blocked == nil {
		t.Fatal("enforcetest: Harness.New and Harness.Blocked are required")
	}
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, *Harness, enforce.Enforcer)
	}{
		{"Empty", testEmpty},
		{"BanUnban", testBanUnban},
		{"Prefixes", testPrefixes},
		{"IPv6", testIPv6},
		{"Overlapping", testOverlapping},
		{"Idempotent", testIdempotent},
		{"Replace", testReplace},
		{"Expiry", testExpiry},
		{"Invalid", testInvalid},
		{"Cancelled", testCancelled},
		{"Concurrent", testConcurrent},
		{"List", testList},
		{"Batch", testBatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := h.New(t)
			if c, ok := e.(enforce.Closer); ok {
				t.Cleanup(func() {
					if err := c.Close(); err != nil {
						t.Errorf("Close: %v", err)
					}
				})
			}
			tc.fn(t, &h, e)
		})
	}
}

var (
	pfx  = netip.MustParsePrefix
	addr = netip.MustParseAddr
)

func ban(t *testing.T, e enforce.Enforcer, p netip.Prefix, until time.Time) {
	t.Helper()
	if err := e.Ban(context.Background(), p, until); err != nil {
		t.Fatalf("Ban(%v): %v", p, err)
	}
}

func unban(t *testing.T, e enforce.Enforcer, p netip.Prefix) {
	t.Helper()
	if err := e.Unban(context.Background(), p); err != nil {
		t.Fatalf("Unban(%v): %v", p, err)
	}
}

// expect checks Blocked for each address.
func expect(t *testing.T, h *Harness, e enforce.Enforcer, want map[string]bool) {
	t.Helper()
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if got := h.Blocked(t, e, addr(k)); got != want[k] {
			t.Errorf("Blocked(%s) = %v, want %v", k, got, want[k])
		}
	}
}

func testEmpty(t *testing.T, h *Harness, e enforce.Enforcer) {
	expect(t, h, e, map[string]bool{"127.0.0.2": false, "fd00:5ba::2": false})
	unban(t, e, pfx("127.0.0.2/32"))
}

func testBanUnban(t *testing.T, h *Harness, e enforce.Enforcer) {
	hour := h.now().Add(time.Hour)
	ban(t, e, pfx("127.0.0.2/32"), hour)
	expect(t, h, e, map[string]bool{"127.0.0.2": true, "127.0.0.3": false})
	unban(t, e, pfx("127.0.0.2/32"))
	expect(t, h, e, map[string]bool{"127.0.0.2": false})
}

func testPrefixes(t *testing.T, h *Harness, e enforce.Enforcer) {
	hour := h.now().Add(time.Hour)
	ban(t, e, pfx("127.1.2.0/24"), hour)
	ban(t, e, pfx("127.3.4.77/20"), hour) // masked on the way in
	ban(t, e, pfx("127.5.5.5/32"), hour)
	expect(t, h, e, map[string]bool{
		"127.1.2.1":     true,
		"127.1.2.254":   true,
		"127.1.3.1":     false,
		"127.3.0.1":     true,
		"127.3.15.254":  true,
		"127.3.16.1":    false,
		"127.5.5.5":     true,
		"127.5.5.6":     false,
		"127.0.0.2":     false,
		"fd00:5ba::127": false,
	})
	unban(t, e, pfx("127.3.0.0/20"))
	expect(t, h, e, map[string]bool{"127.3.0.1": false, "127.1.2.1": true})
}

func testIPv6(t *testing.T, h *Harness, e enforce.Enforcer) {
	hour := h.now().Add(time.Hour)
	ban(t, e, pfx("fd00:5ba:0:1::/64"), hour)
	ban(t, e, pfx("fd00:5ba:0:2::99/128"), hour)
	expect(t, h, e, map[string]bool{
		"fd00:5ba:0:1::1":                  true,
		"fd00:5ba:0:1:ffff:ffff:ffff:fffe": true,
		"fd00:5ba:0:3::1":                  false,
		"fd00:5ba:0:2::99":                 true,
		"fd00:5ba:0:2::98":                 false,
		"127.0.0.2":                        false,
	})
	unban(t, e, pfx("fd00:5ba:0:1::/64"))
	expect(t, h, e, map[string]bool{"fd00:5ba:0:1::1": false, "fd00:5ba:0:2::99": true})
}

// testOverlapping: nested bans are independent, as a Guard may hold a wide
// manual ban and a narrow automatic one.
func testOverlapping(t *testing.T, h *Harness, e enforce.Enforcer) {
	hour := h.now().Add(time.Hour)
	ban(t, e, pfx("127.7.0.0/16"), hour)
	ban(t, e, pfx("127.7.7.7/32"), hour)
	ban(t, e, pfx("fd00:5ba:7::/48"), hour)
	ban(t, e, pfx("fd00:5ba:7:7::/64"), hour)
	unban(t, e, pfx("127.7.0.0/16"))
	unban(t, e, pfx("fd00:5ba:7::/48"))
	expect(t, h, e, map[string]bool{
		"127.7.7.7":       true,
		"127.7.7.8":       false,
		"fd00:5ba:7:7::1": true,
		"fd00:5ba:7:8::1": false,
	})
}

func testIdempotent(t *testing.T, h *Harness, e enforce.Enforcer) {
	hour := h.now().Add(time.Hour)
	for range 2 {
		ban(t, e, pfx("127.0.0.2/32"), hour)
		ban(t, e, pfx("fd00:5ba::2/128"), hour)
	}
	expect(t, h, e, map[string]bool{"127.0.0.2": true, "fd00:5ba::2": true})
	for range 2 {
		unban(t, e, pfx("127.0.0.2/32"))
		unban(t, e, pfx("fd00:5ba::2/128"))
	}
	unban(t, e, pfx("127.200.0.0/16")) // never banned
	expect(t, h, e, map[string]bool{"127.0.0.2": false, "fd00:5ba::2": false})
}

// short is a ban length the suite can wait out.
func (h *Harness) short() time.Duration { return 2 * max(h.res(), 500*time.Millisecond) }

// testReplace: a second Ban replaces the expiry, both ways.
func testReplace(t *testing.T, h *Harness, e enforce.Enforcer) {
	now := h.now()
	ban(t, e, pfx("127.0.0.2/32"), now.Add(h.short()))
	ban(t, e, pfx("127.0.0.2/32"), now.Add(time.Hour)) // longer
	ban(t, e, pfx("127.0.0.3/32"), now.Add(time.Hour))
	ban(t, e, pfx("127.0.0.3/32"), now.Add(h.short())) // shorter
	ban(t, e, pfx("fd00:5ba::3/128"), now.Add(time.Hour))
	ban(t, e, pfx("fd00:5ba::3/128"), now.Add(h.short()))
	h.wait(h.short() + 2*h.res())
	expect(t, h, e, map[string]bool{"127.0.0.2": true, "127.0.0.3": false, "fd00:5ba::3": false})
}

func testExpiry(t *testing.T, h *Harness, e enforce.Enforcer) {
	now := h.now()
	ban(t, e, pfx("127.0.0.2/32"), now.Add(h.short()))
	ban(t, e, pfx("127.9.0.0/16"), now.Add(h.short()))
	ban(t, e, pfx("fd00:5ba:9::/64"), now.Add(h.short()))
	ban(t, e, pfx("127.0.0.4/32"), now.Add(time.Hour))
	expect(t, h, e, map[string]bool{"127.0.0.2": true, "127.9.1.1": true, "fd00:5ba:9::1": true})
	h.wait(h.short() + 2*h.res())
	expect(t, h, e, map[string]bool{"127.0.0.2": false, "127.9.1.1": false, "fd00:5ba:9::1": false, "127.0.0.4": true})
	// Lifting what has expired is not an error.
	unban(t, e, pfx("127.0.0.2/32"))
	unban(t, e, pfx("fd00:5ba:9::/64"))
	// A ban whose time has already passed blocks nothing (or is refused).
	if err := e.Ban(context.Background(), pfx("127.0.0.5/32"), now.Add(-time.Minute)); err == nil {
		expect(t, h, e, map[string]bool{"127.0.0.5": false})
	}
}

func testInvalid(t *testing.T, h *Harness, e enforce.Enforcer) {
	hour := h.now().Add(time.Hour)
	for _, p := range []netip.Prefix{{}, pfx("::ffff:127.0.0.2/128"), netip.PrefixFrom(addr("127.0.0.2"), 33)} {
		if err := e.Ban(context.Background(), p, hour); err == nil {
			t.Errorf("Ban(%v) = nil, want an error", p)
		}
		if err := e.Unban(context.Background(), p); err == nil {
			t.Errorf("Unban(%v) = nil, want an error", p)
		}
	}
	expect(t, h, e, map[string]bool{"127.0.0.2": false})
}

// testCancelled: a cancelled context either abandons the change with
// ctx.Err() or makes it whole.
func testCancelled(t *testing.T, h *Harness, e enforce.Enforcer) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := e.Ban(ctx, pfx("127.0.0.2/32"), h.now().Add(time.Hour))
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("Ban with a cancelled context: %v, want nil or context.Canceled", err)
	}
	expect(t, h, e, map[string]bool{"127.0.0.2": err == nil})
}

func testConcurrent(t *testing.T, h *Harness, e enforce.Enforcer) {
	n := h.Concurrency
	if n == 0 {
		n = 100
	}
	hour := h.now().Add(time.Hour)
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range n {
				p := netip.PrefixFrom(netip.AddrFrom4([4]byte{127, 10 + byte(w), byte(i >> 8), byte(i)}), 32)
				if err := e.Ban(ctx, p, hour); err != nil {
					t.Errorf("Ban(%v): %v", p, err)
				}
				if i%2 == 1 {
					if err := e.Unban(ctx, p); err != nil {
						t.Errorf("Unban(%v): %v", p, err)
					}
				}
			}
		})
	}
	wg.Wait()
	want := map[string]bool{}
	for w := range 4 {
		want[fmt.Sprintf("127.%d.0.0", 10+w)] = true
		want[fmt.Sprintf("127.%d.0.1", 10+w)] = false
		want[fmt.Sprintf("127.%d.%d.%d", 10+w, (n-2)>>8, byte(n-2))] = true
	}
	expect(t, h, e, want)
	if l, ok := e.(enforce.Lister); ok {
		bans, err := l.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := 4 * ((n + 1) / 2); len(bans) != want {
			t.Errorf("List after concurrent use: %d bans, want %d", len(bans), want)
		}
	}
}

func testList(t *testing.T, h *Harness, e enforce.Enforcer) {
	l, ok := e.(enforce.Lister)
	if !ok {
		t.Skip("the enforcer does not implement enforce.Lister")
	}
	now := h.now()
	want := []enforce.Ban{
		{Prefix: pfx("127.0.0.2/32"), Until: now.Add(time.Hour)},
		{Prefix: pfx("127.1.0.0/16"), Until: now.Add(2 * time.Hour)},
		{Prefix: pfx("fd00:5ba:0:1::/64"), Until: now.Add(3 * time.Hour)},
		{Prefix: pfx("fd00:5ba::2/128"), Until: now.Add(4 * time.Hour)},
	}
	for _, b := range want {
		ban(t, e, b.Prefix, b.Until)
	}
	ban(t, e, pfx("127.0.0.3/32"), now.Add(h.short()))
	unban(t, e, pfx("127.1.0.0/16"))
	want = slices.Delete(want, 1, 2)
	h.wait(h.short() + 2*h.res())
	got, err := l.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	checkList(t, h, got, want)
}

// checkList compares bans by prefix, and expiries to within twice the
// resolution (the kernel counts down; a harness's clock and the kernel's
// differ by the time the calls took).
func checkList(t *testing.T, h *Harness, got, want []enforce.Ban) {
	t.Helper()
	byPrefix := map[netip.Prefix]time.Time{}
	for _, b := range got {
		if _, dup := byPrefix[b.Prefix]; dup {
			t.Errorf("List: %v twice", b.Prefix)
		}
		byPrefix[b.Prefix] = b.Until
	}
	for _, w := range want {
		until, ok := byPrefix[w.Prefix]
		if !ok {
			t.Errorf("List: %v missing", w.Prefix)
			continue
		}
		if d := until.Sub(w.Until).Abs(); d > 2*h.res()+time.Second {
			t.Errorf("List: %v until %v, want %v (off by %v)", w.Prefix, until, w.Until, d)
		}
		delete(byPrefix, w.Prefix)
	}
	for p := range byPrefix {
		t.Errorf("List: unexpected %v", p)
	}
}

func testBatch(t *testing.T, h *Harness, e enforce.Enforcer) {
	b, ok := e.(enforce.Batcher)
	if !ok {
		t.Skip("the enforcer does not implement enforce.Batcher")
	}
	ctx := context.Background()
	now := h.now()
	var bans []enforce.Ban
	for i := range 3000 {
		bans = append(bans, enforce.Ban{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{127, 20 + byte(i>>16), byte(i >> 8), byte(i)}), 32), Until: now.Add(time.Hour)})
	}
	bans = append(bans,
		enforce.Ban{Prefix: pfx("fd00:5ba:0:5::/64"), Until: now.Add(time.Hour)},
		enforce.Ban{Prefix: pfx("127.30.0.0/24"), Until: now.Add(time.Hour)},
	)
	// Twice: a batch holding bans that exist already is not an error.
	for range 2 {
		if err := b.BanAll(ctx, bans); err != nil {
			t.Fatalf("BanAll: %v", err)
		}
	}
	expect(t, h, e, map[string]bool{"127.20.0.0": true, "127.20.11.183": true, "127.20.11.184": false, "fd00:5ba:0:5::9": true, "127.30.0.9": true})
	if l, ok := e.(enforce.Lister); ok {
		checkListLen(t, l, len(bans))
	}
	// Lifting a batch with some never banned is not an error either.
	lift := []netip.Prefix{pfx("127.20.0.0/32"), pfx("fd00:5ba:0:5::/64"), pfx("127.99.0.0/16"), pfx("127.30.0.0/24")}
	if err := b.UnbanAll(ctx, lift); err != nil {
		t.Fatalf("UnbanAll: %v", err)
	}
	expect(t, h, e, map[string]bool{"127.20.0.0": false, "127.20.0.1": true, "fd00:5ba:0:5::9": false, "127.30.0.9": false})
	if l, ok := e.(enforce.Lister); ok {
		checkListLen(t, l, len(bans)-3)
	}

	// One prefix twice in a batch (two addresses masking to one /31): the
	// last ban of it counts, and lifting it twice is one lift.
	twice := []enforce.Ban{
		{Prefix: pfx("127.40.0.2/31"), Until: now.Add(time.Hour)},
		{Prefix: pfx("127.40.0.3/31"), Until: now.Add(2 * time.Hour)},
	}
	if err := b.BanAll(ctx, twice); err != nil {
		t.Fatalf("BanAll with a prefix twice: %v", err)
	}
	expect(t, h, e, map[string]bool{"127.40.0.3": true})
	if l, ok := e.(enforce.Lister); ok {
		got, err := l.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range got {
			if g.Prefix == pfx("127.40.0.2/31") && g.Until.Sub(now.Add(2*time.Hour)).Abs() > 2*h.res()+time.Second {
				t.Errorf("List: %v until %v, want the later ban's %v", g.Prefix, g.Until, now.Add(2*time.Hour))
			}
		}
	}
	if err := b.UnbanAll(ctx, []netip.Prefix{pfx("127.40.0.2/31"), pfx("127.40.0.2/31")}); err != nil {
		t.Fatalf("UnbanAll with a prefix twice: %v", err)
	}
	expect(t, h, e, map[string]bool{"127.40.0.3": false})
}

func checkListLen(t *testing.T, l enforce.Lister, want int) {
	t.Helper()
	got, err := l.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != want {
		t.Errorf("List: %d bans, want %d", len(got), want)
	}
}
