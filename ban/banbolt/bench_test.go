package banbolt

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/detect"
)

// realistic is record k as a Guard makes them under a password-guessing
// spray: one account, one User-Agent, a few ports, on distinct addresses.
func realistic(k int) ban.StoredRecord {
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	return ban.StoredRecord{
		Subject: detect.SubjectOf(netip.AddrFrom4([4]byte{10, byte(k >> 16), byte(k >> 8), byte(k)})),
		Scope:   "address", Cause: detect.BadCredentials, Level: 1 + k%3,
		Since: t0, Until: t0.Add(time.Hour), Proven: true,
		Evidence: detect.Evidence{
			Count: 5, First: t0.Add(-time.Minute), Last: t0,
			Accounts: []string{"1001"}, DistinctAccounts: 1,
			UserAgents: []string{"friendly-scanner"},
			Ports:      []uint16{5060, 5061, uint16(40000 + k%1000)},
			Statuses:   []int{401, 403},
			Interval:   2 * time.Second,
			Detail:     "5 rejected passwords for one account",
		},
	}
}

// BenchmarkDecode compares this package's encoding of one record with
// encoding/json's, reading (what a restart does a million times) and size.
func BenchmarkDecode(b *testing.B) {
	r := realistic(7)
	b.Run("binary", func(b *testing.B) {
		key, val := string(appendSubject(nil, r.Subject)), string(encodeRecord(&r))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeRecord(key, val); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(key)+len(val)), "bytes")
	})
	b.Run("json", func(b *testing.B) {
		val, err := json.Marshal(r)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			var got ban.StoredRecord
			if err := json.Unmarshal(val, &got); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(val)), "bytes")
	})
}

func benchStore(b *testing.B, n int) *Store {
	b.Helper()
	s, err := Open(filepath.Join(b.TempDir(), "bans.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	const batch = 10000
	for i := 0; i < n; i += batch {
		cs := make([]ban.Change, min(batch, n-i))
		for j := range cs {
			cs[j] = ban.Change{Op: ban.OpRecord, Record: realistic(i + j)}
		}
		if err := s.Write(context.Background(), cs); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

// BenchmarkLoad is a restart: the file opened, every record read back and
// handed on, the file closed.
func BenchmarkLoad(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			filled := benchStore(b, n)
			if err := filled.Close(); err != nil {
				b.Fatal(err)
			}
			path := filled.Path()
			b.ReportAllocs()
			for b.Loop() {
				s, err := Open(path, nil)
				if err != nil {
					b.Fatal(err)
				}
				got := 0
				err = s.Load(context.Background(), func(c ban.Change) error {
					got++
					return nil
				})
				if err != nil || got != n {
					b.Fatalf("Load: %d changes, %v", got, err)
				}
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
			if fi, err := os.Stat(path); err == nil {
				b.ReportMetric(float64(fi.Size())/float64(n), "file-bytes/record")
			}
		})
	}
}

// BenchmarkWrite is one acknowledged batch of new records, fsync included.
func BenchmarkWrite(b *testing.B) {
	for _, n := range []int{1, 64, 1024} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			s := benchStore(b, 0)
			next := 0
			b.ReportAllocs()
			for b.Loop() {
				cs := make([]ban.Change, n)
				for j := range cs {
					cs[j] = ban.Change{Op: ban.OpRecord, Record: realistic(next)}
					next++
				}
				if err := s.Write(context.Background(), cs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/change")
		})
	}
}
