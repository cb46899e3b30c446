package registrar_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/detect"
	"github.com/sipban/sipban/internal/memstat"
	"github.com/sipban/sipban/internal/registrar"
)

// BenchmarkAdminBans is GET /bans with 1,000,000 active bans: what one
// request allocates, and how far the heap grows while it runs, JSON and all.
func BenchmarkAdminBans(b *testing.B) {
	const n = 1_000_000
	g, err := ban.New(ban.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		ev := detect.Event{Source: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 5060),
			Method: "OPTIONS", UserAgent: "friendly-scanner"}
		if err := g.Observe(context.Background(), &ev); err != nil {
			b.Fatal(err)
		}
	}
	h := registrar.AdminHandler(g)
	for b.Loop() {
		b.StopTimer()
		var rec *httptest.ResponseRecorder
		u := memstat.Measure(func() {
			b.StartTimer()
			rec = httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "http://127.0.0.1:8080/bans", nil))
			b.StopTimer()
		})
		if rec.Code != 200 || rec.Header().Get("Link") == "" {
			b.Fatalf("status %d, Link %q", rec.Code, rec.Header().Get("Link"))
		}
		b.ReportMetric(memstat.MB(u.Allocated), "MB-allocated")
		b.ReportMetric(memstat.MB(u.Grown), "MB-heap-growth")
		b.ReportMetric(memstat.MB(uint64(rec.Body.Len())), "MB-body")
		b.StartTimer()
	}
}
