package registrar_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/bantest"
	"github.com/sipban/sipban/detect"
	"github.com/sipban/sipban/internal/registrar"
)

// startMetered serves the registrar with Metrics, and the admin listener
// with GET /metrics at the URL it returns.
func startMetered(t *testing.T) (*testbed, string) {
	t.Helper()
	m := registrar.NewMetrics()
	tb := startWith(t, ban.Options{Detectors: []detect.Detector{m.Events}})
	require.NoError(t, m.Register(tb.g, tb.srv))
	srv := httptest.NewServer(registrar.WithMetrics(registrar.AdminHandler(tb.g), m))
	t.Cleanup(srv.Close)
	return tb, srv.URL
}

// TestMetrics scrapes GET /metrics of the admin listener after a guesser
// over UDP was banned and then dropped.
func TestMetrics(t *testing.T) {
	t.Parallel()
	tb, url := startMetered(t)
	c := tb.client(t, "127.0.0.40:0")
	addr := c.LocalAddr().Addr()
	_, err := bantest.GuessPasswords(ctx, c, "alice", 5)
	require.NoError(t, err)
	tb.settle(t, addr, 10)
	tb.banned(t, addr)
	dropped, err := bantest.GuessPasswords(ctx, c, "alice", 3)
	require.NoError(t, err)
	require.Positive(t, dropped.Sent)
	require.Zero(t, dropped.Answered)

	want := fmt.Sprintf(`
# HELP sipban_events_total SIP transactions judged, by request method and final status class.
# TYPE sipban_events_total counter
sipban_events_total{class="4xx",method="REGISTER"} 10
# HELP sipban_findings_total Findings of the detectors, by cause.
# TYPE sipban_findings_total counter
sipban_findings_total{cause="bad-credentials"} 1
# HELP sipban_records_made_total Records made, by scope and cause.
# TYPE sipban_records_made_total counter
sipban_records_made_total{cause="bad-credentials",scope="address"} 1
# HELP sipban_records_active Records (address bans, account blocks, guards) in force, by scope and cause.
# TYPE sipban_records_active gauge
sipban_records_active{cause="bad-credentials",scope="address"} 1
# HELP sipban_dropped_packets_total Packets from banned sources dropped, by enforcer.
# TYPE sipban_dropped_packets_total counter
sipban_dropped_packets_total{enforcer="memory"} %d
`, dropped.Sent)
	assert.NoError(t, testutil.ScrapeAndCompare(url+"/metrics", strings.NewReader(want),
		"sipban_events_total", "sipban_findings_total", "sipban_records_made_total", "sipban_records_active", "sipban_dropped_packets_total"))
	res, err := http.Get(url + "/bans/" + addr.String())
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode, "the API is served beside /metrics")
}

// TestMetricsRefused: the requests of a stale device, once its account is
// blocked at its address, are refused unchecked and counted.
func TestMetricsRefused(t *testing.T) {
	t.Parallel()
	tb, url := startMetered(t)
	phone, stale := tb.client(t, "127.0.0.41:0"), tb.client(t, "127.0.0.41:0")
	_, err := bantest.HealthyPhone(ctx, phone, "alice", "alice-secret", 1)
	require.NoError(t, err)
	_, err = bantest.StaleDevice(ctx, stale, "olduser", 5)
	require.NoError(t, err)
	tb.settle(t, phone.LocalAddr().Addr(), 12)
	res, err := bantest.StaleDevice(ctx, stale, "olduser", 2)
	require.NoError(t, err)
	require.Equal(t, map[int]int{403: 2}, res.Statuses)

	assert.NoError(t, testutil.ScrapeAndCompare(url+"/metrics", strings.NewReader(`
# HELP sipban_records_made_total Records made, by scope and cause.
# TYPE sipban_records_made_total counter
sipban_records_made_total{cause="stale-account",scope="account"} 1
# HELP sipban_requests_refused_total Requests answered 403 without a credential check: by="block", an account blocked at the source; by="guard", a stranger to a guarded subject.
# TYPE sipban_requests_refused_total counter
sipban_requests_refused_total{by="block"} 2
sipban_requests_refused_total{by="guard"} 0
`), "sipban_records_made_total", "sipban_requests_refused_total"))
}

// TestMetricsGuarded: once guesses at one account from two addresses guard
// it, a third address's guesses are refused unchecked, each counted as the
// guard counts it (Record.Blocked); they count once each as guesses, and
// its fifth bans the address.
func TestMetricsGuarded(t *testing.T) {
	t.Parallel()
	tb, url := startMetered(t)
	for i, n := range []int{3, 2} {
		c := tb.client(t, fmt.Sprintf("127.0.0.%d:0", 42+i))
		_, err := bantest.GuessPasswords(ctx, c, "user7", n)
		require.NoError(t, err)
		tb.settle(t, c.LocalAddr().Addr(), 2*n)
	}
	rec, ok := tb.g.Record(detect.Subject{Account: "user7"})
	require.True(t, ok, "no guard; records: %+v", tb.g.Bans())
	require.Equal(t, ban.ScopeGuard, rec.Scope)
	res, err := bantest.GuessPasswords(ctx, tb.client(t, "127.0.0.44:0"), "user7", 5)
	require.NoError(t, err)
	require.Equal(t, map[int]int{403: 5}, res.Statuses)
	rec, _ = tb.g.Record(detect.Subject{Account: "user7"})
	require.Positive(t, rec.Blocked)

	assert.NoError(t, testutil.ScrapeAndCompare(url+"/metrics", strings.NewReader(fmt.Sprintf(`
# HELP sipban_records_made_total Records made, by scope and cause.
# TYPE sipban_records_made_total counter
sipban_records_made_total{cause="bad-credentials",scope="address"} 1
sipban_records_made_total{cause="bad-credentials",scope="guard"} 1
# HELP sipban_requests_refused_total Requests answered 403 without a credential check: by="block", an account blocked at the source; by="guard", a stranger to a guarded subject.
# TYPE sipban_requests_refused_total counter
sipban_requests_refused_total{by="block"} 0
sipban_requests_refused_total{by="guard"} %d
`, rec.Blocked)), "sipban_records_made_total", "sipban_requests_refused_total"))
}
