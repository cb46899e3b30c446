package ban_test

import (
	"context"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/detect"
)

func benchSource(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 5060)
}

// BenchmarkGuardObserve measures the Guard handling one event (a rejected
// password) for an already tracked address, with 1,000,000 addresses
// tracked. "scattered" spreads the events over all of them, so that nearly
// every one misses the CPU caches; "active-10k" sends from 10,000 of them.
func BenchmarkGuardObserve(b *testing.B) {
	const n = 1_000_000
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	never := detect.Limit{Threshold: 1000}
	g, err := ban.New(ban.Options{Logger: quiet, Policy: ban.Policy{Limits: detect.Limits{
		MaxSources: n + n/8, BadCredentials: never, AccountFailures: never, SlowCredentials: never}}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	ev := detect.Event{Time: t0, Transport: "udp", Method: "REGISTER", Status: 403, Account: "alice",
		Credentials: true, UserAgent: "Yealink SIP-T46S 66.86.0.15"}
	for i := range n {
		ev.Source = benchSource(i)
		if err := g.Observe(ctx, &ev); err != nil {
			b.Fatal(err)
		}
	}
	if got := g.Standard().Len(); got != n {
		b.Fatalf("tracking %d addresses, want %d", got, n)
	}
	for _, bc := range []struct {
		name   string
		active int
	}{{"scattered", n}, {"active-10k", 10_000}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				ev.Source = benchSource((i * 7919) % bc.active)
				ev.Time = t0.Add(time.Duration(i) * time.Microsecond)
				if err := g.Observe(ctx, &ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	if len(g.Bans()) != 0 {
		b.Fatal("nothing should have been banned")
	}
}

// BenchmarkGuardMemory reports the heap the Guard uses per tracked address,
// over 1,000,000 addresses.
func BenchmarkGuardMemory(b *testing.B) {
	const n = 1_000_000
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		g, err := ban.New(ban.Options{Logger: quiet, Policy: ban.Policy{Limits: detect.Limits{MaxSources: n}}})
		if err != nil {
			b.Fatal(err)
		}
		ev := detect.Event{Method: "REGISTER", Status: 403, Account: "alice", Credentials: true, UserAgent: "Yealink SIP-T46S"}
		for i := range n {
			ev.Source = benchSource(i)
			ev.Time = time.Time{}
			_ = g.Observe(context.Background(), &ev)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		tracked := g.Standard().Len()
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(tracked), "bytes/addr")
		b.ReportMetric(float64(tracked), "addrs")
		runtime.KeepAlive(g)
	}
}

// BenchmarkGuardBanned is the read filter's question, with 100,000 bans.
func BenchmarkGuardBanned(b *testing.B) {
	g, err := ban.New(ban.Options{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 100_000 {
		ev := detect.Event{Source: benchSource(i), Method: "OPTIONS", Status: 200, UserAgent: "friendly-scanner"}
		if err := g.Observe(context.Background(), &ev); err != nil {
			b.Fatal(err)
		}
	}
	banned, clean := benchSource(777).Addr(), netip.MustParseAddr("192.0.2.1")
	b.Run("banned", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !g.Banned(banned) {
				b.Fatal("not banned")
			}
		}
	})
	b.Run("clean", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if g.Banned(clean) {
				b.Fatal("banned")
			}
		}
	})
}

// BenchmarkBans reports, with 1,000,000 active bans, the heap each ban holds
// and what listing them costs: all at once (Bans) or a page of 1,000 (Page).
func BenchmarkBans(b *testing.B) {
	const n = 1_000_000
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	g, err := ban.New(ban.Options{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		ev := detect.Event{Source: benchSource(i), Method: "OPTIONS", UserAgent: "friendly-scanner"}
		if err := g.Observe(context.Background(), &ev); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perBan := float64(after.HeapAlloc-before.HeapAlloc) / n
	listing := func(b *testing.B, list func() int) {
		for b.Loop() {
			b.StopTimer()
			runtime.GC()
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			b.StartTimer()
			if got := list(); got == 0 {
				b.Fatal("nothing listed")
			}
			b.StopTimer()
			runtime.ReadMemStats(&m1)
			b.StartTimer()
			b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/(1<<20), "MB-allocated")
			b.ReportMetric(perBan, "bytes/ban")
		}
	}
	b.Run("all", func(b *testing.B) { listing(b, func() int { return len(g.Bans()) }) })
	b.Run("page-1000", func(b *testing.B) {
		listing(b, func() int { recs, _ := g.Page(detect.Subject{}, 1000); return len(recs) })
	})
}

// BenchmarkGuardObserveLogin measures the commonest event of a real server:
// a phone re-registering with proven credentials, one of 10,000, which also
// keeps it a known device.
func BenchmarkGuardObserveLogin(b *testing.B) {
	const n = 10_000
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	g, err := ban.New(ban.Options{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	ev := detect.Event{Time: t0, Transport: "udp", Method: "REGISTER", Status: 200, Account: "alice",
		Credentials: true, Proven: true, UserAgent: "Yealink SIP-T46S 66.86.0.15"}
	for i := range n {
		ev.Source = benchSource(i)
		if err := g.Observe(ctx, &ev); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ev.Source = benchSource((i * 7919) % n)
		ev.Time = t0.Add(time.Duration(i) * time.Microsecond)
		if err := g.Observe(ctx, &ev); err != nil {
			b.Fatal(err)
		}
	}
	if len(g.Bans()) != 0 {
		b.Fatal("nothing should have been banned")
	}
}
