package main

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/ban/bantest"
)

// TestMetricsEndpoint runs the built registrar and scrapes GET /metrics on
// -admin after a guesser's fifth wrong password.
func TestMetricsEndpoint(t *testing.T) {
	p := startBinary(t, "-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-portal", "", "-ban-local")
	p.waitLog(t, `msg="registrar: serving HTTP"`, 1)
	m := servingHTTP.FindStringSubmatch(p.logs.String())
	require.NotNil(t, m)
	d := bantest.Dialer{Timeout: 2 * time.Second}
	c, err := d.Dial(context.Background(), "127.0.0.8:0", p.addr)
	require.NoError(t, err)
	defer c.Close()
	res, err := bantest.GuessPasswords(context.Background(), c, "alice", 5)
	require.NoError(t, err)
	require.Equal(t, map[int]int{403: 5}, res.Statuses)
	// The fifth answer leaves once the ban is made: the scrape sees it.
	assert.NoError(t, testutil.ScrapeAndCompare("http://"+m[2]+"/metrics", strings.NewReader(`
# HELP sipban_records_made_total Records made, by scope and cause.
# TYPE sipban_records_made_total counter
sipban_records_made_total{cause="bad-credentials",scope="address"} 1
# HELP sipban_events_total SIP transactions judged, by request method and final status class.
# TYPE sipban_events_total counter
sipban_events_total{class="4xx",method="REGISTER"} 10
`), "sipban_records_made_total", "sipban_events_total"))
	p.stop(t, syscall.SIGTERM)
}
