package banredis_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/banredis"
	"github.com/sipban/sipban/detect"
)

// BenchmarkObserve needs no server: Observe never does I/O, and without
// Run nothing is sent.
func BenchmarkObserve(b *testing.B) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	now := time.Now()
	for _, bc := range []struct {
		name string
		ev   detect.Event
	}{
		{"challenge", detect.Event{Source: addr("203.0.113.7:5060"), Transport: "udp", Method: "REGISTER", Status: 401, Account: "100"}},
		{"login", detect.Event{Source: addr("203.0.113.7:5060"), Transport: "tcp", Method: "REGISTER", Status: 200, Account: "100", Credentials: true, Proven: true}},
		{"unproven-failure", detect.Event{Source: addr("203.0.113.7:5060"), Transport: "udp", Method: "REGISTER", Status: 403, Account: "100", Credentials: true}},
		{"proven-failure", detect.Event{Source: addr("203.0.113.7:5060"), Transport: "tcp", Method: "REGISTER", Status: 403, Account: "100", Credentials: true, Proven: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cnt, err := banredis.NewCounter(c, banredis.CounterOptions{Logger: quiet, Now: func() time.Time { return now }})
			if err != nil {
				b.Fatal(err)
			}
			ev := bc.ev
			ev.Time = now
			dst := make([]detect.Finding, 0, 4)
			b.ReportAllocs()
			for b.Loop() {
				dst = cnt.Observe(&ev, dst[:0])
			}
		})
	}
}

// BenchmarkCodec measures the JSON of one record as Share sends it.
func BenchmarkCodec(b *testing.B) {
	r := record(b, "203.0.113.7")
	enc, _ := json.Marshal(r)
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(&r); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(enc)), "bytes/record")
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var r ban.StoredRecord
			if err := json.Unmarshal(enc, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPropagation shares 1,000 records one at a time on edge A and
// reports how long each took to reach Follow's fn on edge B, on loopback.
func BenchmarkPropagation(b *testing.B) {
	_, c := server(b)
	a, f := newFleet(b, c, "a"), newFleet(b, c, "b")
	fromB := follower(b, f)
	waitSynced(b, f)
	var lat []time.Duration
	base := netip.MustParseAddr("10.0.0.0").As4()
	n := 0
	for b.Loop() {
		for range 1000 {
			n++
			ip := base
			ip[1], ip[2], ip[3] = byte(n>>16), byte(n>>8), byte(n)
			r := record(b, netip.AddrFrom4(ip).String())
			start := time.Now()
			if err := a.Share(context.Background(), []ban.Change{put(r)}); err != nil {
				b.Fatal(err)
			}
			got := next(b, fromB)
			lat = append(lat, time.Since(start))
			if got.Record.Subject != r.Subject {
				b.Fatalf("got %v, want %v", got.Record.Subject, r.Subject)
			}
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2])/1e6, "median-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100])/1e6, "p99-ms")
	b.ReportMetric(0, "ns/op")
	b.Logf("%d records: median %v, p99 %v", len(lat), lat[len(lat)/2], lat[len(lat)*99/100])
}

// BenchmarkShareBatch measures one Share of 1,000 records: one round trip.
func BenchmarkShareBatch(b *testing.B) {
	_, c := server(b)
	a := newFleet(b, c, "a")
	batch := make([]ban.Change, 1000)
	for i := range batch {
		batch[i] = put(record(b, fmt.Sprintf("10.1.%d.%d", i/256, i%256)))
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := a.Share(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed())/float64(b.N)/1000, "ns/record")
}
