package nftables_test

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/detect"
	"github.com/sipban/sipban/enforce"
	"github.com/sipban/sipban/enforce/nftables"
	"github.com/sipban/sipban/internal/netnstest"
)

// addrs returns n distinct addresses in 127.64.0.0/10, none of which the
// benchmarks send from.
func addrs(n int) []enforce.Ban {
	out := make([]enforce.Ban, n)
	until := time.Now().Add(time.Hour)
	for i := range out {
		out[i] = enforce.Ban{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{127, 64 + byte(i>>16), byte(i >> 8), byte(i)}), 32), Until: until}
	}
	return out
}

// BenchmarkInstall installs 100,000 and 1,000,000 bans with BanAll into a
// fresh table.
func BenchmarkInstall(b *testing.B) {
	netnstest.Require(b)
	for _, n := range []int{100_000, 1_000_000} {
		bans := addrs(n)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				e := open(b, nftables.Options{Table: "install"})
				b.StartTimer()
				if err := e.BanAll(context.Background(), bans); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := e.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "bans/s")
		})
	}
}

// BenchmarkDecisionToDrop times a Guard deciding a ban (the fifth wrong
// password from a new source, through the standard detector and policy)
// until the kernel drops that source's packets, and reports the median.
func BenchmarkDecisionToDrop(b *testing.B) {
	netnstest.Require(b)
	e := open(b, nftables.Options{Table: "latency"})
	defer e.Close()
	g, err := ban.New(ban.Options{Enforcers: []enforce.Enforcer{e}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var took []time.Duration
	i := 0
	for b.Loop() {
		b.StopTimer()
		i++
		src := netip.AddrFrom4([4]byte{127, 1, byte(i >> 8), byte(i)})
		ev := func() *detect.Event {
			return &detect.Event{Source: netip.AddrPortFrom(src, 5060), Transport: "udp", Method: "REGISTER",
				Status: 403, Account: "alice", Credentials: true}
		}
		for range g.Standard().Limits().BadCredentials.Threshold - 1 {
			if err := g.Observe(ctx, ev()); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		start := time.Now()
		if err := g.Observe(ctx, ev()); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
		b.StopTimer()
		if delivered(b, src) {
			b.Fatalf("%v: not dropped after the ban", src)
		}
		b.StartTimer()
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds()), "median-µs")
}

// BenchmarkPacketCost sends a burst of 10,000 datagrams from a banned and
// from a clean source with 1,000 and with 100,000 bans installed: the cost
// per packet must not grow with the number of bans.
func BenchmarkPacketCost(b *testing.B) {
	netnstest.Require(b)
	const burst = 10_000
	// Port 5060: the default Options drop the SIP ports only.
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5060})
	if err != nil {
		b.Fatal(err)
	}
	defer rx.Close()
	to := rx.LocalAddr().(*net.UDPAddr).AddrPort()
	payload := make([]byte, 400) // a small REGISTER's size
	for _, tc := range []struct {
		name string
		bans []enforce.Ban
	}{
		{"bans=1000", addrs(1_000 - 1)},
		{"bans=100000", addrs(100_000 - 1)},
		// One rule per prefix length in use: the cost that does grow.
		{"bans=100000-over-25-lengths", spread(addrs(100_000-1), 25)},
	} {
		e := open(b, nftables.Options{Table: "cost"})
		bans := append(tc.bans, enforce.Ban{Prefix: netip.MustParsePrefix("127.0.0.2/32"), Until: time.Now().Add(time.Hour)})
		if err := e.BanAll(context.Background(), bans); err != nil {
			b.Fatal(err)
		}
		for _, src := range []string{"127.0.0.2", "127.0.0.3"} {
			name := tc.name + "/banned-source"
			if src == "127.0.0.3" {
				name = tc.name + "/clean-source"
			}
			b.Run(name, func(b *testing.B) {
				tx := netnstest.ListenFrom(b, netip.MustParseAddrPort(src+":0"))
				for b.Loop() {
					for range burst {
						// A full receive buffer drops the clean
						// source's datagrams too, after the hook.
						_, _ = tx.WriteToUDPAddrPort(payload, to)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*burst), "ns/packet")
			})
		}
		if err := e.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// spread gives the bans k prefix lengths, /32 down to /(33-k), keeping each
// inside 127.64.0.0/10 and clear of the sources the benchmark sends from.
func spread(bans []enforce.Ban, k int) []enforce.Ban {
	for i := range bans {
		bans[i].Prefix = netip.PrefixFrom(bans[i].Prefix.Addr(), 32-i%k).Masked()
	}
	return bans
}

// BenchmarkResync times one Guard.Resync with 100,000 bans in the Guard and
// the kernel and nothing lost: the check Run makes every minute. (Reading
// the bans back instead, as Reconcile does at start-up, takes seconds: the
// kernel walks the set from its start for each message of the dump.)
func BenchmarkResync(b *testing.B) {
	netnstest.Require(b)
	ctx := context.Background()
	e := open(b, nftables.Options{Table: "resync"})
	defer e.Close()
	if err := e.BanAll(ctx, addrs(100_000)); err != nil {
		b.Fatal(err)
	}
	g, err := ban.New(ban.Options{Enforcers: []enforce.Enforcer{e}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := g.Reconcile(ctx); err != nil {
		b.Fatal(err)
	}
	if n := len(g.Bans()); n < 90_000 {
		b.Fatalf("adopted %d bans", n)
	}
	for b.Loop() {
		if n, err := g.Resync(ctx); err != nil || n != 0 {
			b.Fatalf("put back %d bans: %v", n, err)
		}
	}
}
