package main

import (
	"bytes"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/internal/kernel"
	"github.com/sipban/sipban/internal/syncbuf"
	"github.com/sipban/sipban/watch"
)

// TestMetrics mirrors testdata's capture over HEP to watch -hep -metrics,
// and scrapes it once the last ban is made.
func TestMetrics(t *testing.T) {
	stream := hepStream(t)
	var out syncbuf.Buffer
	addr, stop := startHEP(t, config{scope: kernel.Flags{BanLocal: true}, metrics: "127.0.0.1:0"}, &out)
	url := regexp.MustCompile(`watch: serving metrics on (\S+)`).FindStringSubmatch(out.String())
	require.NotNil(t, url, out.String())
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write(stream)
	require.NoError(t, err)
	waitOutput(t, &out, "ban bob@* (guard, bad-credentials)")
	assert.NoError(t, testutil.ScrapeAndCompare(url[1], strings.NewReader(`
# HELP sipban_watch_messages_total SIP messages the pairer read.
# TYPE sipban_watch_messages_total counter
sipban_watch_messages_total 80
# HELP sipban_hep_packets_total HEP packets read: outcome="sip" passed on, "unsupported", "refused".
# TYPE sipban_hep_packets_total counter
sipban_hep_packets_total{outcome="refused"} 0
sipban_hep_packets_total{outcome="sip"} 80
sipban_hep_packets_total{outcome="unsupported"} 0
# HELP sipban_records_made_total Records made, by scope and cause.
# TYPE sipban_records_made_total counter
sipban_records_made_total{cause="bad-credentials",scope="address"} 1
sipban_records_made_total{cause="bad-credentials",scope="guard"} 1
# HELP sipban_events_total SIP transactions judged, by request method and final status class.
# TYPE sipban_events_total counter
sipban_events_total{class="2xx",method="REGISTER"} 10
sipban_events_total{class="4xx",method="REGISTER"} 30
`), "sipban_watch_messages_total", "sipban_hep_packets_total", "sipban_records_made_total", "sipban_events_total"))
	require.NoError(t, stop())
}

// hepStream is testdata's capture as the server would have mirrored it
// over HEP.
func hepStream(t *testing.T) []byte {
	t.Helper()
	file, err := os.ReadFile("testdata/guesser.pcapng")
	require.NoError(t, err)
	var stream []byte
	require.NoError(t, watch.ReadFile(bytes.NewReader(file), watch.NewDecoder(), func(p *watch.Packet) error {
		stream, err = watch.AppendHEP(stream, p)
		return err
	}))
	return stream
}
