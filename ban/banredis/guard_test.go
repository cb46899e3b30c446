package banredis_test

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/banredis"
	"github.com/sipban/sipban/detect"
)

// edgeGuard is one edge: a Guard sharing through Redis, with the fleet's
// offence counting among its detectors, running until the test ends.
func edgeGuard(t testing.TB, c redis.UniversalClient, name string, pol ban.Policy) (*ban.Guard, *banredis.Fleet, *banredis.Counter) {
	t.Helper()
	f := newFleet(t, c, name)
	counter, err := banredis.NewCounter(c, banredis.CounterOptions{Limits: pol.Limits, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	g, err := ban.New(ban.Options{Policy: pol, Fleet: f, Detectors: []detect.Detector{counter}, Logger: quiet, ResyncEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { _ = g.Run(ctx); done <- struct{}{} }()
	go func() { _ = counter.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done })
	waitSynced(t, f)
	return g, f, counter
}

// until polls ok; the bound is a hang detector, not a timing assertion.
func until(t testing.TB, ok func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !ok(); time.Sleep(100 * time.Microsecond) {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
	}
}

func guessFrom(t testing.TB, g *ban.Guard, from string, account string, n int) {
	t.Helper()
	for range n {
		ev := detect.Event{Source: addr(from), Transport: "udp", Method: "REGISTER", Account: account,
			Credentials: true, Proven: true, Status: 403, UserAgent: "sipcracker"}
		_ = g.Observe(context.Background(), &ev)
	}
}

// Three Guards on one Redis: a ban on one holds on the others except where
// an edge allow-lists the address; guessing spread over the edges, too
// little at each for its own detector, is banned everywhere; a lift on one
// edge lifts it on all; and after Redis restarts, empty, a new ban still
// reaches every edge.
func TestGuardsShareOneRedis(t *testing.T) {
	s, c := server(t)
	ctx := context.Background()
	a, _, ca := edgeGuard(t, c, "a", ban.Policy{})
	b, _, cb := edgeGuard(t, c, "b", ban.Policy{})
	allow := ban.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}}
	cc, fc, ccount := edgeGuard(t, c, "c", allow)

	guessFrom(t, a, "203.0.113.7:5060", "100", 5)
	until(t, func() bool { return b.Banned(netip.MustParseAddr("203.0.113.7")) }, "b holds a's ban")
	// Changes reach an edge in order: once c holds a later ban, it has
	// judged the first.
	guessFrom(t, a, "192.0.2.200:5060", "101", 5)
	until(t, func() bool { return cc.Banned(netip.MustParseAddr("192.0.2.200")) }, "c holds a's second ban")
	if cc.Banned(netip.MustParseAddr("203.0.113.7")) {
		t.Error("c banned an address it allow-lists")
	}

	// Two guesses at each edge, each counted in Redis before the next:
	// too few for any edge's own detector.
	for _, e := range []struct {
		g *ban.Guard
		c *banredis.Counter
	}{{a, ca}, {b, cb}, {cc, ccount}} {
		for range 2 {
			guessFrom(t, e.g, "198.51.100.9:5060", "200", 1)
			if err := e.c.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	spread := netip.MustParseAddr("198.51.100.9")
	until(t, func() bool { return a.Banned(spread) && b.Banned(spread) && cc.Banned(spread) }, "the spread guesser banned on every edge")

	if err := b.Lift(ctx, detect.SubjectOf(spread)); err != nil {
		t.Fatal(err)
	}
	until(t, func() bool { return !a.Banned(spread) && !cc.Banned(spread) }, "b's lift reached a and c")

	resyncs := fc.Stats().Resyncs
	s.Stop()
	s.Start()
	until(t, func() bool { return fc.Stats().Resyncs > resyncs && fc.Stats().Synced }, "c resynced with the new Redis")
	guessFrom(t, b, "192.0.2.33:5060", "300", 5)
	back := netip.MustParseAddr("192.0.2.33")
	if !b.Banned(back) {
		t.Fatal("b did not ban by itself")
	}
	until(t, func() bool { return a.Banned(back) && cc.Banned(back) }, "a ban made after Redis came back reached a and c")
}

// BenchmarkDecisionToEnforcement times a ban decided on edge A (one
// scanner datagram) until edge B's Guard drops the source, through Redis on
// loopback, over 1,000 bans, and reports the median and the 99th
// percentile.
func BenchmarkDecisionToEnforcement(b *testing.B) {
	_, c := server(b)
	ga, _, _ := edgeGuard(b, c, "a", ban.Policy{})
	gb, _, _ := edgeGuard(b, c, "b", ban.Policy{})
	var lat []time.Duration
	n := 0
	for b.Loop() {
		for range 1000 {
			n++
			src := netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)})
			ev := detect.Event{Source: netip.AddrPortFrom(src, 5060), Method: "OPTIONS", UserAgent: "friendly-scanner"}
			start := time.Now()
			if err := ga.Observe(context.Background(), &ev); err != nil {
				b.Fatal(err)
			}
			until(b, func() bool { return gb.Banned(src) }, "b drops the source")
			lat = append(lat, time.Since(start))
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2])/1e6, "median-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100])/1e6, "p99-ms")
	b.ReportMetric(0, "ns/op")
}
