package metrics_test

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/detect"
	"github.com/sipban/sipban/metrics"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func benchSource(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 5060)
}

// BenchmarkGuardObserve is ban's BenchmarkGuardObserve (a rejected
// password from one of 1,000,000 tracked addresses), without and with an
// Events counting every event, side by side.
func BenchmarkGuardObserve(b *testing.B) {
	const n = 1_000_000
	for _, c := range []struct {
		name      string
		detectors []detect.Detector
	}{{"plain", nil}, {"events", []detect.Detector{&metrics.Events{}}}} {
		t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
		never := detect.Limit{Threshold: 1000}
		g, err := ban.New(ban.Options{Logger: quiet, Detectors: c.detectors, Policy: ban.Policy{Limits: detect.Limits{
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
		for _, bc := range []struct {
			name   string
			active int
		}{{"scattered", n}, {"active-10k", 10_000}} {
			b.Run(bc.name+"/"+c.name, func(b *testing.B) {
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
	}
}

// BenchmarkEventsObserve is the counting detector alone.
func BenchmarkEventsObserve(b *testing.B) {
	var e metrics.Events
	ev := detect.Event{Method: "REGISTER", Status: 403}
	b.ReportAllocs()
	for b.Loop() {
		e.Observe(&ev, nil)
	}
}
