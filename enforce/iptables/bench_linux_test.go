package iptables_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sipban/sipban/enforce"
	"github.com/sipban/sipban/enforce/iptables"
	"github.com/sipban/sipban/internal/netnstest"
)

// v4bans returns n distinct /32s in 10.0.0.0/8, clear of the 127/8
// addresses the probes use.
func v4bans(n int, until time.Time) []enforce.Ban {
	bans := make([]enforce.Ban, n)
	for i := range bans {
		bans[i] = enforce.Ban{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32), Until: until}
	}
	return bans
}

// mixedBans returns n distinct prefixes spread over 25 lengths, /8 to /32,
// in 20.0.0.0/8 to 44.0.0.0/8: hash:net pays one lookup per length in use.
func mixedBans(n int, until time.Time) []enforce.Ban {
	bans := make([]enforce.Ban, n)
	for i := range bans {
		bits := 8 + i%25
		a := netip.AddrFrom4([4]byte{byte(20 + i%25), byte(i >> 16), byte(i >> 8), byte(i)})
		bans[i] = enforce.Ban{Prefix: netip.PrefixFrom(a, bits).Masked(), Until: until}
	}
	return bans
}

// BenchmarkBanAll100k installs 100,000 /32s with one BanAll into a fresh
// set: 98 netlink messages of up to 1,024 elements.
func BenchmarkBanAll100k(b *testing.B) {
	netnstest.Require(b)
	benchInstall(b, func(e *iptables.Enforcer, bans []enforce.Ban) error {
		return e.BanAll(context.Background(), bans)
	})
}

// BenchmarkBanLoop100k installs the same with 100,000 calls of Ban: one
// netlink round trip each, for comparison.
func BenchmarkBanLoop100k(b *testing.B) {
	netnstest.Require(b)
	benchInstall(b, func(e *iptables.Enforcer, bans []enforce.Ban) error {
		for _, x := range bans {
			if err := e.Ban(context.Background(), x.Prefix, x.Until); err != nil {
				return err
			}
		}
		return nil
	})
}

func benchInstall(b *testing.B, install func(*iptables.Enforcer, []enforce.Ban) error) {
	const n = 100_000
	bans := v4bans(n, time.Now().Add(time.Hour))
	b.ReportAllocs()
	var spent time.Duration
	for range b.N {
		b.StopTimer()
		e := open(b, iptables.Options{Name: "bench"})
		b.StartTimer()
		start := time.Now()
		if err := install(e, bans); err != nil {
			b.Fatal(err)
		}
		spent += time.Since(start)
		b.StopTimer()
		if err := e.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(spent.Seconds()/float64(b.N), "s/100k")
	b.ReportMetric(float64(n*b.N)/spent.Seconds(), "bans/s")
}

// BenchmarkUnbanAll100k lifts 100,000 /32s with one UnbanAll.
func BenchmarkUnbanAll100k(b *testing.B) {
	netnstest.Require(b)
	const n = 100_000
	bans := v4bans(n, time.Now().Add(time.Hour))
	ps := make([]netip.Prefix, n)
	for i, x := range bans {
		ps[i] = x.Prefix
	}
	e := open(b, iptables.Options{Name: "bench"})
	defer e.Close()
	ctx := context.Background()
	var spent time.Duration
	for range b.N {
		b.StopTimer()
		if err := e.BanAll(ctx, bans); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		if err := e.UnbanAll(ctx, ps); err != nil {
			b.Fatal(err)
		}
		spent += time.Since(start)
	}
	b.ReportMetric(spent.Seconds()/float64(b.N), "s/100k")
}

// BenchmarkList100k reads back 100,000 bans, as ban.Guard.Reconcile does
// at start-up.
func BenchmarkList100k(b *testing.B) {
	netnstest.Require(b)
	e := open(b, iptables.Options{Name: "bench"})
	defer e.Close()
	if err := e.BanAll(context.Background(), v4bans(100_000, time.Now().Add(time.Hour))); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		l, err := e.List(context.Background())
		if err != nil || len(l) != 100_000 {
			b.Fatal(len(l), err)
		}
	}
}

// BenchmarkBanLatency: how long one Ban takes from the call until the
// kernel drops the source. netlink is synchronous (the element is in the
// set when the kernel acknowledges it), so that is Ban's own time; a probe
// sent right after each Ban returns checks the drop. 200 bans per
// iteration, into a set that already holds 10,000.
func BenchmarkBanLatency(b *testing.B) {
	netnstest.Require(b)
	e := open(b, iptables.Options{Name: "bench"})
	defer e.Close()
	ctx := context.Background()
	if err := e.BanAll(ctx, v4bans(10_000, time.Now().Add(time.Hour))); err != nil {
		b.Fatal(err)
	}
	var took []time.Duration
	missed := 0
	b.ResetTimer()
	for i := range b.N {
		for j := range 200 {
			a := netip.AddrFrom4([4]byte{127, 50 + byte(i%100), byte(j), 2})
			start := time.Now()
			if err := e.Ban(ctx, netip.PrefixFrom(a, 32), time.Now().Add(time.Hour)); err != nil {
				b.Fatal(err)
			}
			took = append(took, time.Since(start))
			b.StopTimer()
			if delivered(b, a) {
				missed++
			}
			b.StartTimer()
		}
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Nanoseconds()), "ns/ban-p50")
	b.ReportMetric(float64(took[len(took)*99/100].Nanoseconds()), "ns/ban-p99")
	b.ReportMetric(float64(missed), "not-dropped")
	if missed > 0 {
		b.Errorf("%d probes sent after Ban returned were delivered", missed)
	}
}

// BenchmarkPacketCost sends bursts of 10,000 datagrams from a banned and
// from a clean source through the rule, with 1, 1,000 and 100,000 bans
// installed (and with no Enforcer at all), and reports the time per
// datagram. The lookup costs one hash probe per prefix length in use, not
// per ban: the "mixed" sets spread their bans over 25 lengths.
func BenchmarkPacketCost(b *testing.B) {
	netnstest.Require(b)
	for _, bc := range []struct {
		name string
		bans []enforce.Ban
		none bool
	}{
		{name: "none", none: true},
		{name: "bans=1"},
		{name: "bans=1000", bans: v4bans(1000, time.Now().Add(time.Hour))},
		{name: "bans=100000", bans: v4bans(100_000, time.Now().Add(time.Hour))},
		{name: "mixed=1000", bans: mixedBans(1000, time.Now().Add(time.Hour))},
		{name: "mixed=100000", bans: mixedBans(100_000, time.Now().Add(time.Hour))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			if !bc.none {
				e := open(b, iptables.Options{Name: "bench"})
				defer e.Close()
				bans := append(slices.Clone(bc.bans), enforce.Ban{Prefix: pfx("127.0.0.2/32"), Until: time.Now().Add(time.Hour)})
				if err := e.BanAll(context.Background(), bans); err != nil {
					b.Fatal(err)
				}
			}
			// A receiver never read: once its buffer is full the
			// datagrams that get through are dropped there, at the
			// same cost each.
			// Port 5060: the default Options drop the SIP ports only.
			rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5060})
			if err != nil {
				b.Fatal(err)
			}
			defer rx.Close()
			to := rx.LocalAddr().(*net.UDPAddr).AddrPort()
			for _, src := range []string{"127.0.0.2", "127.0.0.3"} {
				name := "banned"
				if src == "127.0.0.3" || bc.none {
					name = "clean"
				}
				if bc.none && src == "127.0.0.2" {
					continue
				}
				b.Run(name, func(b *testing.B) {
					tx := netnstest.ListenFrom(b, netip.AddrPortFrom(addr(src), 0))
					payload := []byte("OPTIONS sip:probe SIP/2.0\r\n\r\n")
					const burst = 10_000
					b.ReportAllocs()
					b.ResetTimer()
					for range b.N {
						for range burst {
							if _, err := tx.WriteToUDPAddrPort(payload, to); err != nil {
								b.Fatal(err)
							}
						}
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*burst), "ns/packet")
				})
			}
		})
	}
}

// BenchmarkSetMemory reports the kernel's memory for a set of 100,000 bans
// (ipset's "Size in memory"): /32s, and IPv6 /64s.
func BenchmarkSetMemory(b *testing.B) {
	netnstest.Require(b)
	until := time.Now().Add(time.Hour)
	v6 := make([]enforce.Ban, 100_000)
	for i := range v6 {
		v6[i] = enforce.Ban{Prefix: netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 4: byte(i >> 16), 5: byte(i >> 8), 6: byte(i)}), 64), Until: until}
	}
	for _, bc := range []struct {
		name, set string
		bans      []enforce.Ban
	}{{"v4", "bench4", v4bans(100_000, until)}, {"v6", "bench6", v6}} {
		b.Run(bc.name, func(b *testing.B) {
			for range b.N {
				e := open(b, iptables.Options{Name: "bench"})
				if err := e.BanAll(context.Background(), bc.bans); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				var size int
				for line := range strings.Lines(sh(b, "ipset", "list", "-t", bc.set)) {
					if _, err := fmt.Sscanf(line, "Size in memory: %d", &size); err == nil {
						break
					}
				}
				b.ReportMetric(float64(size), "bytes/100k")
				e.Close()
				b.StartTimer()
			}
		})
	}
}
