package ban_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/banbolt"
	"github.com/sipban/sipban/detect"
	"github.com/sipban/sipban/internal/memstat"
	"github.com/sipban/sipban/internal/statefile"
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
		var g *ban.Guard
		u := memstat.Measure(func() {
			var err error
			g, err = ban.New(ban.Options{Logger: quiet, Policy: ban.Policy{Limits: detect.Limits{MaxSources: n}}})
			if err != nil {
				b.Fatal(err)
			}
			ev := detect.Event{Method: "REGISTER", Status: 403, Account: "alice", Credentials: true, UserAgent: "Yealink SIP-T46S"}
			for i := range n {
				ev.Source = benchSource(i)
				ev.Time = time.Time{}
				_ = g.Observe(context.Background(), &ev)
			}
		})
		tracked := g.Standard().Len()
		b.ReportMetric(float64(u.Kept)/float64(tracked), "bytes/addr")
		b.ReportMetric(float64(tracked), "addrs")
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

// scannerBan bans every event's source (an IPv6 one by its /64) as the
// standard detector bans a scanner, keeping no state of its own: what a
// Guard then holds is the ban.
var scannerBan = detect.Func(func(ev *detect.Event, dst []detect.Finding) []detect.Finding {
	sub := detect.SubjectOf(ev.Source.Addr())
	if sub.Prefix.Addr().Is6() {
		sub.Prefix, _ = sub.Prefix.Addr().Prefix(64)
	}
	return append(dst, detect.Finding{Cause: detect.Scanner, Subject: sub,
		Evidence: detect.Evidence{Count: 1, First: ev.Time, Last: ev.Time, UserAgents: []string{ev.UserAgent},
			Ports: []uint16{ev.Source.Port()}, Detail: "scanner User-Agent " + ev.UserAgent}})
})

// fill bans n sources, IPv4 or IPv6 /64s, each with one scanner datagram.
func fill(b *testing.B, g *ban.Guard, n int, v6 bool) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		src := benchSource(i)
		if v6 {
			src = netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 4: byte(i >> 16), 5: byte(i >> 8), 6: byte(i), 15: 1}), 5060)
		}
		ev := detect.Event{Time: t0, Source: src, Method: "OPTIONS", UserAgent: "friendly-scanner"}
		if err := g.Observe(context.Background(), &ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBanMemory reports the heap a Guard keeps per active ban at
// 1,000,000 bans: the record and the in-memory enforcer's entry, for IPv4
// addresses and IPv6 /64s; and, with the standard detector, everything,
// its table of the sources it has seen included.
func BenchmarkBanMemory(b *testing.B) {
	const n = 1_000_000
	for _, c := range []struct {
		name string
		v6   bool
		opts ban.Options
	}{
		{"ipv4", false, ban.Options{NoStandard: true, Detectors: []detect.Detector{scannerBan}}},
		{"ipv6", true, ban.Options{NoStandard: true, Detectors: []detect.Detector{scannerBan}}},
		{"ipv4-standard", false, ban.Options{}},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				var g *ban.Guard
				u := memstat.Measure(func() {
					opts := c.opts
					opts.Logger = quiet
					var err error
					if g, err = ban.New(opts); err != nil {
						b.Fatal(err)
					}
					fill(b, g, n, c.v6)
				})
				if got := g.Stats().Records; got != n {
					b.Fatalf("%d bans, want %d", got, n)
				}
				b.ReportMetric(float64(u.Kept)/n, "bytes/ban")
			}
		})
	}
}

// BenchmarkBans reports what listing 1,000,000 active bans costs: all at
// once (Bans) or a page of 1,000 (Page).
func BenchmarkBans(b *testing.B) {
	const n = 1_000_000
	g, err := ban.New(ban.Options{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	fill(b, g, n, false)
	listing := func(b *testing.B, list func() int) {
		for b.Loop() {
			b.StopTimer()
			u := memstat.Measure(func() {
				b.StartTimer()
				if got := list(); got == 0 {
					b.Fatal("nothing listed")
				}
				b.StopTimer()
			})
			b.StartTimer()
			b.ReportMetric(memstat.MB(u.Allocated), "MB-allocated")
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

// BenchmarkGuardObserveStore compares Observe, for events that change no
// record, without a Store and with one (a bbolt file): a rejected password
// and a login, each from one of 10,000 sources already tracked and known.
// With the Store, rejected passwords are kept for the detectors until each
// source's budget is spent (16 per 10 minutes), and the writes that cost
// on the other core fall in the first runs.
func BenchmarkGuardObserveStore(b *testing.B) {
	const n = 10_000
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	ctx := context.Background()
	never := detect.Limit{Threshold: 1000}
	for _, store := range []string{"none", "bbolt"} {
		opts := ban.Options{Logger: quiet, Policy: ban.Policy{Limits: detect.Limits{BadCredentials: never, AccountFailures: never,
			SlowCredentials: never, AccountCredentials: never, AccountSlow: never}}}
		if store == "bbolt" {
			st, err := banbolt.Open(filepath.Join(b.TempDir(), "state.db"), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			opts.Store = st
		}
		g, err := ban.New(opts)
		if err != nil {
			b.Fatal(err)
		}
		fail := detect.Event{Time: t0, Transport: "udp", Method: "REGISTER", Status: 403, Account: "alice",
			Credentials: true, Proven: true, UserAgent: "Yealink SIP-T46S 66.86.0.15"}
		login := fail
		login.Status = 200
		// An account per source: one account failing from many is guarded.
		accounts := make([]string, n)
		for i := range n {
			accounts[i] = fmt.Sprint("user", i)
			fail.Source, login.Source = benchSource(i), benchSource(i)
			fail.Account, login.Account = accounts[i], accounts[i]
			if err := errors.Join(g.Observe(ctx, &fail), g.Observe(ctx, &login)); err != nil {
				b.Fatal(err)
			}
		}
		if err := g.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		for _, ev := range []struct {
			name string
			ev   *detect.Event
		}{{"rejected", &fail}, {"login", &login}} {
			if err := g.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			writes := g.StoreStats().Batches
			b.Run(ev.name+"/store="+store, func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					k := (i * 7919) % n
					ev.ev.Source, ev.ev.Account = benchSource(k), accounts[k]
					ev.ev.Time = t0.Add(time.Duration(i) * time.Microsecond)
					if err := g.Observe(ctx, ev.ev); err != nil {
						b.Fatal(err)
					}
				}
			})
			if err := g.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			// A login changes nothing; a failure is kept for the detectors.
			if w := g.StoreStats().Batches - writes; len(g.Bans()) != 0 || ev.ev == &login && w != 0 {
				b.Fatalf("%d records, %d store writes: the events changed something", len(g.Bans()), w)
			}
		}
	}
}

// BenchmarkRestart measures a restart: the state file opened, its active
// bans restored into a new Guard and held by its in-memory enforcer, and
// Reconcile run, as the registrar does at start-up.
func BenchmarkRestart(b *testing.B) {
	now := time.Now()
	for _, n := range []int{100_000, 1_000_000} {
		path := filepath.Join(b.TempDir(), "state.db")
		if err := statefile.Write(path, n, now, now.Add(time.Hour)); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				g, st := openGuard(b, path)
				got, err := g.Restore(context.Background())
				if err != nil || got != n || !g.Banned(statefile.Source(n-1)) {
					b.Fatalf("restored %d of %d: %v", got, n, err)
				}
				if _, err := g.Reconcile(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := errors.Join(g.Close(context.Background()), st.Close()); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkRestoreFailures measures Restore replaying 100,000 failures
// kept in a state file (25,000 sources, 4 wrong passwords each, none
// banned) into a new Guard's detectors.
func BenchmarkRestoreFailures(b *testing.B) {
	const sources, each = 25_000, 4
	now := time.Now()
	var batch []ban.Change
	for i := range sources {
		for j := range each {
			batch = append(batch, ban.Change{Op: ban.OpFailure, Failure: ban.Failure{
				At: now.Add(time.Duration(i*each+j-sources*each) * time.Millisecond), Source: benchSource(i),
				Transport: "udp", Method: "REGISTER", Status: 403, Account: fmt.Sprint("user", i), Credentials: true,
				UserAgent: "Yealink SIP-T46S 66.86.0.15"}})
		}
	}
	benchRestore(b, batch, func(g *ban.Guard) {
		ev := detect.Event{Source: benchSource(sources - 1), Transport: "udp", Method: "REGISTER", Status: 403,
			Account: fmt.Sprint("user", sources-1), Credentials: true, Proven: true}
		if err := g.Observe(context.Background(), &ev); err != nil || !g.Banned(benchSource(sources-1).Addr()) {
			b.Fatalf("the fifth guess after the restart did not ban: %v", err)
		}
	})
}

// BenchmarkRestoreDevices measures Restore reading back 100,000 devices
// that logged in over the last day, kept in a state file, into a new
// Guard's known devices and site inventory.
func BenchmarkRestoreDevices(b *testing.B) {
	const n = 100_000
	now := time.Now()
	batch := make([]ban.Change, n)
	for i := range batch {
		src := benchSource(i)
		batch[i] = ban.Change{Op: ban.OpDevice, Device: ban.KnownDevice{Where: src.Addr(), Account: fmt.Sprint("user", i),
			UserAgent: "Yealink SIP-T46S 66.86.0.15", Last: now.Add(-time.Duration(n-i) * 500 * time.Millisecond), Port: 5062}}
	}
	benchRestore(b, batch, func(g *ban.Guard) {
		// A scanner's datagram at the oldest device's address (its trust
		// lapsed) guards it, and the explanation lists the device.
		ev := detect.Event{Source: benchSource(0), Transport: "udp", Method: "OPTIONS", Status: 200, UserAgent: "friendly-scanner"}
		if err := g.Observe(context.Background(), &ev); err != nil {
			b.Fatal(err)
		}
		r, ok := g.Record(detect.SubjectOf(benchSource(0).Addr()))
		if !ok || r.Scope != ban.ScopeGuard || !slices.ContainsFunc(r.Diagnosis.Devices, func(d ban.Device) bool { return d.Port == 5062 }) {
			b.Fatalf("the restored device's address: %+v", r)
		}
	})
}

// benchRestore measures Restore from a state file holding batch, checking
// each restored Guard with check, untimed.
func benchRestore(b *testing.B, batch []ban.Change, check func(*ban.Guard)) {
	path := stateWith(b, batch)
	for b.Loop() {
		g, st := openGuard(b, path)
		if _, err := g.Restore(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		check(g)
		if err := errors.Join(g.Close(context.Background()), st.Close()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// stateWith returns the path of a new state file holding batch.
func stateWith(b *testing.B, batch []ban.Change) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "state.db")
	st, err := banbolt.Open(path, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := errors.Join(st.Write(context.Background(), batch), st.Close()); err != nil {
		b.Fatal(err)
	}
	return path
}

// openGuard opens the state file at path, and a Guard on it.
func openGuard(b *testing.B, path string) (*ban.Guard, *banbolt.Store) {
	b.Helper()
	st, err := banbolt.Open(path, nil)
	if err != nil {
		b.Fatal(err)
	}
	g, err := ban.New(ban.Options{Logger: quiet, Store: st})
	if err != nil {
		b.Fatal(err)
	}
	return g, st
}
