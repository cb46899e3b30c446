package metrics

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipban/sipban/enforce"
)

// The operations of an enforcer, the values of the op label.
const (
	opBan = iota
	opUnban
	opBanAll
	opUnbanAll
	opList
	opRepair
	opDropped
	nops
)

var opNames = [nops]string{"ban", "unban", "ban_all", "unban_all", "list", "repair", "dropped"}

// DroppedTimeout bounds the time a scrape waits for one enforcer's
// enforce.Counter.
const DroppedTimeout = 2 * time.Second

var (
	droppedPacketsDesc = prometheus.NewDesc("sipban_dropped_packets_total",
		"Packets from banned sources dropped, by enforcer.", []string{"enforcer"}, nil)
	droppedBytesDesc = prometheus.NewDesc("sipban_dropped_bytes_total",
		"Bytes of the packets from banned sources dropped, by enforcer.", []string{"enforcer"}, nil)
)

// Enforcers wraps enforcers to time their operations and count their
// errors, and collects those measures with the drops of those that count
// them (enforce.Counter, and Count's), read at each scrape. It is safe for concurrent
// use. Construct one with NewEnforcers.
type Enforcers struct {
	latency *prometheus.HistogramVec
	errs    *prometheus.CounterVec

	mu       sync.Mutex
	counters []namedCounter
}

type namedCounter struct {
	name string
	c    enforce.Counter
}

var _ prometheus.Collector = (*Enforcers)(nil)

// NewEnforcers returns an Enforcers that has wrapped nothing yet.
func NewEnforcers() *Enforcers {
	return &Enforcers{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sipban_enforcer_duration_seconds",
			Help: "Time enforcer operations took, by enforcer and operation.",
			// From a map update to kernel transactions of thousands of bans.
			Buckets: prometheus.ExponentialBuckets(10e-6, 4, 10),
		}, []string{"enforcer", "op"}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sipban_enforcer_errors_total",
			Help: "Enforcer operations that returned an error, by enforcer and operation.",
		}, []string{"enforcer", "op"}),
	}
}

// Wrap returns en measured under name, the value of the enforcer label;
// give each enforcer its own. What it returns implements exactly the
// optional interfaces of package enforce that en implements (Lister,
// Batcher, Repairer, Capper, Closer, Counter), so that a ban.Guard treats
// it as it would en. MaxTimeout and Close are passed on unmeasured.
func (m *Enforcers) Wrap(name string, en enforce.Enforcer) enforce.Enforcer {
	if c, ok := en.(enforce.Counter); ok {
		m.Count(name, c)
	}
	return compose(m.base(name, en), capsOf(en))
}

// Count reports c's drops under name, as the drops of an enforcer: for
// counts kept apart from their enforcer, such as the in-memory
// enforcement's in a sipgoban.Filter ("memory").
func (m *Enforcers) Count(name string, c enforce.Counter) {
	m.mu.Lock()
	m.counters = append(m.counters, namedCounter{name, c})
	m.mu.Unlock()
}

// base returns en measured under name, with its counters resolved once.
func (m *Enforcers) base(name string, en enforce.Enforcer) *base {
	b := &base{en: en}
	for op := range nops {
		b.lat[op] = m.latency.WithLabelValues(name, opNames[op])
		b.errs[op] = m.errs.WithLabelValues(name, opNames[op])
	}
	return b
}

// Describe implements prometheus.Collector.
func (m *Enforcers) Describe(ch chan<- *prometheus.Desc) {
	m.latency.Describe(ch)
	m.errs.Describe(ch)
	ch <- droppedPacketsDesc
	ch <- droppedBytesDesc
}

// Collect implements prometheus.Collector. An enforcer whose Dropped fails
// is left out of that scrape and counted in sipban_enforcer_errors_total
// (op "dropped").
func (m *Enforcers) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	cs := m.counters
	m.mu.Unlock()
	for _, nc := range cs {
		ctx, cancel := context.WithTimeout(context.Background(), DroppedTimeout)
		start := time.Now()
		packets, bytes, err := nc.c.Dropped(ctx)
		cancel()
		m.latency.WithLabelValues(nc.name, opNames[opDropped]).Observe(time.Since(start).Seconds())
		if err != nil {
			m.errs.WithLabelValues(nc.name, opNames[opDropped]).Inc()
			continue
		}
		ch <- prometheus.MustNewConstMetric(droppedPacketsDesc, prometheus.CounterValue, float64(packets), nc.name)
		ch <- prometheus.MustNewConstMetric(droppedBytesDesc, prometheus.CounterValue, float64(bytes), nc.name)
	}
	m.latency.Collect(ch)
	m.errs.Collect(ch)
}

//go:generate go run gen_compose.go

// The optional interfaces, one bit each in the mask compose takes.
const (
	capLister = 1 << iota
	capBatcher
	capRepairer
	capCapper
	capCloser
	capCounter
	ncaps = 1 << iota
)

func capsOf(en enforce.Enforcer) uint8 {
	var m uint8
	if _, ok := en.(enforce.Lister); ok {
		m |= capLister
	}
	if _, ok := en.(enforce.Batcher); ok {
		m |= capBatcher
	}
	if _, ok := en.(enforce.Repairer); ok {
		m |= capRepairer
	}
	if _, ok := en.(enforce.Capper); ok {
		m |= capCapper
	}
	if _, ok := en.(enforce.Closer); ok {
		m |= capCloser
	}
	if _, ok := en.(enforce.Counter); ok {
		m |= capCounter
	}
	return m
}

// base is the measured Enforcer; the types below add one optional
// interface each, and compose embeds those the inner one has.
type base struct {
	en   enforce.Enforcer
	lat  [nops]prometheus.Observer
	errs [nops]prometheus.Counter
}

func (b *base) done(op int, start time.Time, err error) error {
	b.lat[op].Observe(time.Since(start).Seconds())
	if err != nil {
		b.errs[op].Inc()
	}
	return err
}

func (b *base) Ban(ctx context.Context, p netip.Prefix, until time.Time) error {
	start := time.Now()
	return b.done(opBan, start, b.en.Ban(ctx, p, until))
}

func (b *base) Unban(ctx context.Context, p netip.Prefix) error {
	start := time.Now()
	return b.done(opUnban, start, b.en.Unban(ctx, p))
}

type lister struct{ *base }

func (l lister) List(ctx context.Context) ([]enforce.Ban, error) {
	start := time.Now()
	bans, err := l.en.(enforce.Lister).List(ctx)
	return bans, l.done(opList, start, err)
}

type batcher struct{ *base }

func (b batcher) BanAll(ctx context.Context, bans []enforce.Ban) error {
	start := time.Now()
	return b.done(opBanAll, start, b.en.(enforce.Batcher).BanAll(ctx, bans))
}

func (b batcher) UnbanAll(ctx context.Context, prefixes []netip.Prefix) error {
	start := time.Now()
	return b.done(opUnbanAll, start, b.en.(enforce.Batcher).UnbanAll(ctx, prefixes))
}

type repairer struct{ *base }

func (r repairer) Repair(ctx context.Context) (bool, error) {
	start := time.Now()
	lost, err := r.en.(enforce.Repairer).Repair(ctx)
	return lost, r.done(opRepair, start, err)
}

type capper struct{ *base }

func (c capper) MaxTimeout() time.Duration { return c.en.(enforce.Capper).MaxTimeout() }

type closer struct{ *base }

func (c closer) Close() error { return c.en.(enforce.Closer).Close() }

// counter passes Dropped on unmeasured: Enforcers.Collect measures it.
type counter struct{ *base }

func (c counter) Dropped(ctx context.Context) (uint64, uint64, error) {
	return c.en.(enforce.Counter).Dropped(ctx)
}
