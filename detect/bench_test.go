package detect

import (
	"net/netip"
	"testing"
	"time"

	"github.com/sipban/sipban/internal/memstat"
)

// Source returns the i-th of the benchmark's IPv4 sources.
func source(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 5060)
}

// attempt is the event an attacker makes most: a rejected password.
func attempt(src netip.AddrPort, at time.Time) Event {
	return Event{Time: at, Source: src, Transport: "udp", Method: "REGISTER", Status: 403,
		Account: "alice", Credentials: true, UserAgent: "Yealink SIP-T46S 66.86.0.15"}
}

// BenchmarkStandardObserve measures one event for an already tracked source
// with 1,000,000 sources tracked: "scattered" visits all of them in an order
// that defeats the CPU caches; "active-10k" sends from 10,000 of them, as an
// attack from many addresses does while the rest sit idle.
func BenchmarkStandardObserve(b *testing.B) {
	const n = 1_000_000
	s, err := NewStandard(Limits{MaxSources: n + n/8, BadCredentials: Limit{Threshold: maxThreshold}, SlowCredentials: Limit{Threshold: maxThreshold},
		AccountFailures: Limit{Threshold: maxThreshold}})
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		ev := attempt(source(i), t0)
		s.Observe(&ev, nil)
	}
	for _, bc := range []struct {
		name   string
		active int
	}{{"scattered", n}, {"active-10k", 10_000}} {
		b.Run(bc.name, func(b *testing.B) {
			ev := attempt(netip.AddrPort{}, t0)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				ev.Source = source((i * 7919) % bc.active)
				ev.Time = t0.Add(time.Duration(i) * time.Microsecond)
				if fs := s.Observe(&ev, nil); len(fs) != 0 {
					b.Fatal("threshold should be out of reach")
				}
			}
		})
	}
}

// BenchmarkStandardMemory reports the heap used per tracked source, over
// 1,000,000 sources.
func BenchmarkStandardMemory(b *testing.B) {
	const n = 1_000_000
	for b.Loop() {
		var s *Standard
		u := memstat.Measure(func() {
			var err error
			if s, err = NewStandard(Limits{MaxSources: n}); err != nil {
				b.Fatal(err)
			}
			for i := range n {
				ev := attempt(source(i), t0)
				s.Observe(&ev, nil)
			}
		})
		b.ReportMetric(float64(u.Kept)/float64(s.Len()), "bytes/source")
		b.ReportMetric(float64(s.Len()), "sources")
	}
}
