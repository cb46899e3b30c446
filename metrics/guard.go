package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipban/sipban/ban"
)

var (
	activeDesc = prometheus.NewDesc("sipban_records_active",
		"Records (address bans, account blocks, guards) in force, by scope and cause.", []string{"scope", "cause"}, nil)
	madeDesc = prometheus.NewDesc("sipban_records_made_total",
		"Records made, by scope and cause.", []string{"scope", "cause"}, nil)
	liftedDesc = prometheus.NewDesc("sipban_records_lifted_total",
		"Records lifted by an operator or a customer.", nil, nil)
	expiredDesc = prometheus.NewDesc("sipban_records_expired_total",
		"Records that ran out.", nil, nil)
	refusedDesc = prometheus.NewDesc("sipban_records_refused_total",
		"Findings not recorded because the table was full (Policy.MaxBans).", nil, nil)
	evictedDesc = prometheus.NewDesc("sipban_records_evicted_total",
		"Records evicted at the full table to make room for proven findings.", nil, nil)
	observedDesc = prometheus.NewDesc("sipban_guard_events_total",
		"Events the Guard observed, those it could not judge included.", nil, nil)
	invalidDesc = prometheus.NewDesc("sipban_guard_events_invalid_total",
		"Events the Guard could not judge (no source address).", nil, nil)
	guardEnforceDesc = prometheus.NewDesc("sipban_guard_enforce_errors_total",
		"Enforcer calls of the Guard that failed or timed out (Options.EnforceTimeout).", nil, nil)
)

// guardCollector reads a Guard's counts at scrape time.
type guardCollector struct{ g *ban.Guard }

// Guard returns a collector of g's records (ban.Guard.Tallies) and counts
// (ban.Guard.Stats), read at each scrape; Tallies takes no lock, Stats a
// read lock for an instant.
func Guard(g *ban.Guard) prometheus.Collector { return guardCollector{g} }

func (c guardCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{activeDesc, madeDesc, liftedDesc, expiredDesc, refusedDesc, evictedDesc, observedDesc, invalidDesc, guardEnforceDesc} {
		ch <- d
	}
}

func (c guardCollector) Collect(ch chan<- prometheus.Metric) {
	for _, t := range c.g.Tallies() {
		cause := t.Cause.String()
		ch <- prometheus.MustNewConstMetric(activeDesc, prometheus.GaugeValue, float64(t.Active), t.Scope, cause)
		ch <- prometheus.MustNewConstMetric(madeDesc, prometheus.CounterValue, float64(t.Made), t.Scope, cause)
	}
	st := c.g.Stats()
	for _, m := range []struct {
		d *prometheus.Desc
		v int64
	}{{liftedDesc, st.Lifted}, {expiredDesc, st.Expired}, {refusedDesc, st.Refused}, {evictedDesc, st.Evicted},
		{observedDesc, st.Events}, {invalidDesc, st.Invalid}, {guardEnforceDesc, st.EnforceErrors}} {
		ch <- prometheus.MustNewConstMetric(m.d, prometheus.CounterValue, float64(m.v))
	}
}
