package metrics_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/detect"
	"github.com/sipban/sipban/metrics"
)

func TestGuardAndEvents(t *testing.T) {
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	events := &metrics.Events{}
	g, err := ban.New(ban.Options{Logger: quiet, Detectors: []detect.Detector{events}, Now: func() time.Time { return now }})
	require.NoError(t, err)
	ctx := context.Background()
	src := netip.MustParseAddrPort("203.0.113.5:5060")
	for range 5 { // the standard detector bans at the fifth
		ev := detect.Event{Source: src, Method: "REGISTER", Status: 403, Account: "100", Credentials: true}
		require.NoError(t, g.Observe(ctx, &ev))
	}
	for _, ev := range []detect.Event{
		{Method: "REGISTER", Status: 401}, // a challenge
		{Method: "INVITE"},                // no answer
		{Method: "register", Status: 200}, // not as sipgo spells it
		{Method: "X-" + strings.Repeat("A", 100), Status: 999},
		{Method: "OPTIONS", Status: 200, Guarded: true},
	} {
		ev.Source = netip.MustParseAddrPort("198.51.100.1:5060")
		require.NoError(t, g.Observe(ctx, &ev))
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(events, metrics.Guard(g))
	assert.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP sipban_events_total SIP transactions judged, by request method and final status class.
# TYPE sipban_events_total counter
sipban_events_total{class="2xx",method="OPTIONS"} 1
sipban_events_total{class="2xx",method="other"} 1
sipban_events_total{class="4xx",method="REGISTER"} 6
sipban_events_total{class="none",method="INVITE"} 1
sipban_events_total{class="other",method="other"} 1
# HELP sipban_events_guarded_total Requests a guard refused without checking their credentials (detect.Event.Guarded).
# TYPE sipban_events_guarded_total counter
sipban_events_guarded_total 1
# HELP sipban_findings_total Findings of the detectors, by cause.
# TYPE sipban_findings_total counter
sipban_findings_total{cause="bad-credentials"} 1
# HELP sipban_records_active Records (address bans, account blocks, guards) in force, by scope and cause.
# TYPE sipban_records_active gauge
sipban_records_active{cause="bad-credentials",scope="address"} 1
# HELP sipban_records_made_total Records made, by scope and cause.
# TYPE sipban_records_made_total counter
sipban_records_made_total{cause="bad-credentials",scope="address"} 1
# HELP sipban_guard_events_total Events the Guard observed, those it could not judge included.
# TYPE sipban_guard_events_total counter
sipban_guard_events_total 10
`), "sipban_events_total", "sipban_events_guarded_total", "sipban_findings_total", "sipban_records_active",
		"sipban_records_made_total", "sipban_guard_events_total"))

	require.NoError(t, g.Lift(ctx, detect.SubjectOf(src.Addr())))
	assert.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP sipban_records_active Records (address bans, account blocks, guards) in force, by scope and cause.
# TYPE sipban_records_active gauge
sipban_records_active{cause="bad-credentials",scope="address"} 0
# HELP sipban_records_lifted_total Records lifted by an operator or a customer.
# TYPE sipban_records_lifted_total counter
sipban_records_lifted_total 1
`), "sipban_records_active", "sipban_records_lifted_total"))
}
