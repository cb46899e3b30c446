package detect

import (
	"net/netip"
	"runtime"
	"testing"
	"time"
)

// sources returns n distinct IPv4 sources.
func sources(n int) []netip.AddrPort {
	out := make([]netip.AddrPort, n)
	for i := range out {
		out[i] = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 5060)
	}
	return out
}

// attempt is the event an attacker makes most: a rejected password.
func attempt(src netip.AddrPort, at time.Time) Event {
	return Event{Time: at, Source: src, Transport: "udp", Method: "REGISTER", Status: 403,
		Account: "alice", Credentials: true, UserAgent: "Yealink SIP-T46S 66.86.0.15"}
}

// BenchmarkStandardObserveTracked measures one event for an already tracked
// source, with 1,000,000 sources tracked, visited in a scattered order.
func BenchmarkStandardObserveTracked(b *testing.B) {
	const n = 1_000_000
	s, err := NewStandard(Limits{MaxSources: n, BadCredentials: Limit{Threshold: maxThreshold}, AccountFailures: Limit{Threshold: maxThreshold}})
	if err != nil {
		b.Fatal(err)
	}
	for _, a := range sources(n) {
		ev := attempt(a, t0)
		s.Observe(&ev, nil)
	}
	ev := attempt(netip.AddrPort{}, t0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		j := (i * 7919) % n
		ev.Source = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(j >> 16), byte(j >> 8), byte(j)}), 5060)
		ev.Time = t0.Add(time.Duration(i) * time.Microsecond)
		if fs := s.Observe(&ev, nil); len(fs) != 0 {
			b.Fatal("threshold should be out of reach")
		}
	}
}

// BenchmarkStandardMemory reports the heap used per tracked source, over
// 1,000,000 sources.
func BenchmarkStandardMemory(b *testing.B) {
	const n = 1_000_000
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		s, err := NewStandard(Limits{MaxSources: n})
		if err != nil {
			b.Fatal(err)
		}
		for _, a := range sources(n) {
			ev := attempt(a, t0)
			s.Observe(&ev, nil)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(s.Len()), "bytes/source")
		b.ReportMetric(float64(s.Len()), "sources")
		runtime.KeepAlive(s)
	}
}
