package banhttp_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/banhttp"
	"github.com/sipban/sipban/detect"
	"github.com/sipban/sipban/internal/fakeclock"
)

// BenchmarkPage renders the self-service page of a block at a site where
// 50 devices logged in, one of which then mistyped its password. The Guard
// keeps the most recently seen devices of an address only: the metric
// "devices" is how many the page listed.
func BenchmarkPage(b *testing.B) {
	clock := fakeclock.New(time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC))
	g, err := ban.New(ban.Options{Logger: slog.New(slog.DiscardHandler), Now: clock.Now})
	if err != nil {
		b.Fatal(err)
	}
	site := netip.MustParseAddr(office)
	send := func(port uint16, account string, status int) {
		clock.Advance(time.Second)
		ev := detect.Event{Source: netip.AddrPortFrom(site, port), Transport: "udp", Method: "REGISTER", Account: account,
			Credentials: true, Proven: true, Status: status, UserAgent: fmt.Sprintf("Yealink SIP-T46S 66.86.0.%d", port%100),
			Contact: fmt.Sprintf("<sip:%s@%s:%d;transport=udp>", account, office, port)}
		if err := g.Observe(context.Background(), &ev); err != nil {
			b.Fatal(err)
		}
	}
	const devices = 50
	for i := range devices {
		send(uint16(5060+i), fmt.Sprintf("ext%d", 100+i), 200)
	}
	for range 5 {
		send(5060+devices/2, "carol", 403)
	}
	subject := "carol@" + office
	rec, ok := g.Record(detect.Subject{Prefix: netip.PrefixFrom(site, 32), Account: "carol"})
	if !ok {
		b.Fatalf("no block: %+v", g.Bans())
	}
	h, err := banhttp.New(g, banhttp.Options{Authorize: func(*http.Request) (banhttp.Viewer, error) {
		return banhttp.Customer("a", banhttp.Scope{Prefixes: []netip.Prefix{netip.PrefixFrom(site, 32)}}.Owns), nil
	}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var w *httptest.ResponseRecorder
	for b.Loop() {
		w = httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "http://localhost/ui/bans/"+subject+"?lang=de", nil))
	}
	if w.Code != http.StatusOK || strings.Count(w.Body.String(), `data-suspect="true"`) != 1 {
		b.Fatalf("status %d, body %s", w.Code, w.Body)
	}
	b.ReportMetric(float64(len(rec.Diagnosis.Devices)), "devices")
	b.ReportMetric(float64(w.Body.Len()), "bytes")
}
