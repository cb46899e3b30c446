package metrics_test

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/sipgoban"
	"github.com/sipban/sipban/enforce"
	"github.com/sipban/sipban/metrics"
	"github.com/sipban/sipban/watch"
)

// TestRegisterAll registers every collector in one registry.
func TestRegisterAll(t *testing.T) {
	g, err := ban.New(ban.Options{Logger: quiet})
	require.NoError(t, err)
	hs, err := watch.NewHEPServer(watch.HEPOptions{Logger: quiet})
	require.NoError(t, err)
	ens := metrics.NewEnforcers()
	ens.Wrap("nftables", counting{})
	f := sipgoban.NewFilter(g)
	ens.Count("memory", f)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(&metrics.Events{}, ens, metrics.Guard(g), metrics.Filter(f),
		metrics.Pairing(func() watch.Stats { return watch.Stats{Messages: 3, Paired: 1, Proven: 1} }), metrics.HEP(hs))
	assert.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP sipban_dropped_packets_total Packets from banned sources dropped, by enforcer.
# TYPE sipban_dropped_packets_total counter
sipban_dropped_packets_total{enforcer="memory"} 0
sipban_dropped_packets_total{enforcer="nftables"} 12
# HELP sipban_watch_messages_total SIP messages the pairer read.
# TYPE sipban_watch_messages_total counter
sipban_watch_messages_total 3
`), "sipban_dropped_packets_total", "sipban_watch_messages_total"))
	n, err := testutil.GatherAndCount(reg)
	require.NoError(t, err)
	assert.Positive(t, n)
}

// counting is an enforcer whose rules dropped 12 packets.
type counting struct{ enforce.Enforcer }

func (counting) Dropped(ctx context.Context) (uint64, uint64, error) { return 12, 1200, nil }
