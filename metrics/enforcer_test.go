package metrics

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/enforce"
	"github.com/sipban/sipban/enforce/enforcetest"
	"github.com/sipban/sipban/internal/fakeclock"
)

func TestEnforcerConformance(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	m := NewEnforcers()
	var mu sync.Mutex
	inner := map[enforce.Enforcer]*enforce.Memory{}
	enforcetest.Run(t, enforcetest.Harness{
		New: func(*testing.T) enforce.Enforcer {
			mem := enforce.NewMemory(clock.Now)
			w := m.Wrap("memory", mem)
			mu.Lock()
			inner[w] = mem
			mu.Unlock()
			return w
		},
		Blocked: func(_ *testing.T, e enforce.Enforcer, a netip.Addr) bool {
			mu.Lock()
			defer mu.Unlock()
			return inner[e].Blocked(a)
		},
		Now:  clock.Now,
		Wait: clock.Advance,
	})
	_, isLister := m.Wrap("memory", enforce.NewMemory(clock.Now)).(enforce.Lister)
	assert.True(t, isLister, "a wrapped Memory lists, as Memory does")
}

// plain implements Enforcer and nothing else.
type plain struct{}

func (plain) Ban(context.Context, netip.Prefix, time.Time) error { return nil }
func (plain) Unban(context.Context, netip.Prefix) error          { return nil }

func TestWrapNonLister(t *testing.T) {
	w := NewEnforcers().Wrap("plain", plain{})
	_, ok := w.(enforce.Lister)
	assert.False(t, ok, "a wrapped non-Lister must not be a Lister: Reconcile would call it")
	assert.Equal(t, uint8(0), capsOf(w))
}

// full implements every optional interface, and fails when told to.
type full struct {
	err            error
	calls          []string
	packets, bytes uint64
}

func (f *full) note(op string) error                               { f.calls = append(f.calls, op); return f.err }
func (f *full) Ban(context.Context, netip.Prefix, time.Time) error { return f.note("ban") }
func (f *full) Unban(context.Context, netip.Prefix) error          { return f.note("unban") }
func (f *full) List(context.Context) ([]enforce.Ban, error)        { return nil, f.note("list") }
func (f *full) BanAll(context.Context, []enforce.Ban) error        { return f.note("ban_all") }
func (f *full) UnbanAll(context.Context, []netip.Prefix) error     { return f.note("unban_all") }
func (f *full) Repair(context.Context) (bool, error)               { return true, f.note("repair") }
func (f *full) MaxTimeout() time.Duration                          { f.calls = append(f.calls, "max"); return time.Hour }
func (f *full) Close() error                                       { return f.note("close") }
func (f *full) Dropped(context.Context) (uint64, uint64, error) {
	return f.packets, f.bytes, f.note("dropped")
}

// TestWrapKeepsInterfaces builds an inner enforcer with each set of
// optional interfaces and checks that its wrapper has that set, no more,
// no less, and passes each call on.
func TestWrapKeepsInterfaces(t *testing.T) {
	m := NewEnforcers()
	ctx := context.Background()
	for mask := range uint8(ncaps) {
		f := &full{}
		inner := compose(m.base("inner", f), mask)
		require.Equal(t, mask, capsOf(inner), "compose(%06b)", mask)
		w := m.Wrap("outer", inner)
		require.Equal(t, mask, capsOf(w), "Wrap of %06b", mask)
		want := []string{"ban", "unban"}
		_ = w.Ban(ctx, netip.MustParsePrefix("192.0.2.1/32"), time.Now())
		_ = w.Unban(ctx, netip.MustParsePrefix("192.0.2.1/32"))
		if l, ok := w.(enforce.Lister); ok {
			_, _ = l.List(ctx)
			want = append(want, "list")
		}
		if b, ok := w.(enforce.Batcher); ok {
			_ = b.BanAll(ctx, nil)
			_ = b.UnbanAll(ctx, nil)
			want = append(want, "ban_all", "unban_all")
		}
		if r, ok := w.(enforce.Repairer); ok {
			lost, _ := r.Repair(ctx)
			assert.True(t, lost)
			want = append(want, "repair")
		}
		if c, ok := w.(enforce.Capper); ok {
			assert.Equal(t, time.Hour, c.MaxTimeout())
			want = append(want, "max")
		}
		if c, ok := w.(enforce.Closer); ok {
			_ = c.Close()
			want = append(want, "close")
		}
		if c, ok := w.(enforce.Counter); ok {
			_, _, _ = c.Dropped(ctx)
			want = append(want, "dropped")
		}
		assert.Equal(t, want, f.calls, "mask %06b", mask)
	}
}

func TestEnforcerMeasures(t *testing.T) {
	m := NewEnforcers()
	f := &full{packets: 7, bytes: 700}
	w := m.Wrap("nftables", f)
	ctx := context.Background()
	p := netip.MustParsePrefix("192.0.2.1/32")
	require.NoError(t, w.Ban(ctx, p, time.Now()))
	f.err = errors.New("netlink: no")
	require.Error(t, w.Ban(ctx, p, time.Now()))
	require.Error(t, w.(enforce.Batcher).UnbanAll(ctx, []netip.Prefix{p}))
	f.err = nil

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m)
	assert.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP sipban_dropped_packets_total Packets from banned sources dropped, by enforcer.
# TYPE sipban_dropped_packets_total counter
sipban_dropped_packets_total{enforcer="nftables"} 7
# HELP sipban_dropped_bytes_total Bytes of the packets from banned sources dropped, by enforcer.
# TYPE sipban_dropped_bytes_total counter
sipban_dropped_bytes_total{enforcer="nftables"} 700
# HELP sipban_enforcer_errors_total Enforcer operations that returned an error, by enforcer and operation.
# TYPE sipban_enforcer_errors_total counter
sipban_enforcer_errors_total{enforcer="nftables",op="ban"} 1
sipban_enforcer_errors_total{enforcer="nftables",op="ban_all"} 0
sipban_enforcer_errors_total{enforcer="nftables",op="dropped"} 0
sipban_enforcer_errors_total{enforcer="nftables",op="list"} 0
sipban_enforcer_errors_total{enforcer="nftables",op="repair"} 0
sipban_enforcer_errors_total{enforcer="nftables",op="unban"} 0
sipban_enforcer_errors_total{enforcer="nftables",op="unban_all"} 1
`), "sipban_dropped_packets_total", "sipban_dropped_bytes_total", "sipban_enforcer_errors_total"))
	counts := map[string]uint64{}
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "sipban_enforcer_duration_seconds" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			for _, l := range mt.GetLabel() {
				if l.GetName() == "op" {
					counts[l.GetValue()] = mt.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	assert.Equal(t, map[string]uint64{"ban": 2, "unban": 0, "ban_all": 0, "unban_all": 1, "list": 0, "repair": 0, "dropped": 2}, counts, "dropped: one per scrape")

	f.err = errors.New("iptables: gone")
	assert.Equal(t, 0, testutil.CollectAndCount(m, "sipban_dropped_packets_total"), "a failed Dropped leaves out the enforcer's drops")
	assert.Equal(t, 1.0, testutil.ToFloat64(m.errs.WithLabelValues("nftables", "dropped")))
}
