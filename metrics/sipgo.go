package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipban/sipban/ban/sipgoban"
)

var (
	cutDesc = prometheus.NewDesc("sipban_connections_cut_total",
		"Connections of banned sources closed, at accept or at a read.", nil, nil)
	refusedReqDesc = prometheus.NewDesc("sipban_requests_refused_total",
		`Requests answered 403 without a credential check: by="block", an account blocked at the source; by="guard", a stranger to a guarded subject.`,
		[]string{"by"}, nil)
)

type filterCollector struct{ f *sipgoban.Filter }

// Filter returns a collector of f's connections cut and requests refused
// unchecked. Its drops, those of the in-memory enforcement, are reported
// with the kernel enforcers': Enforcers.Count("memory", f).
func Filter(f *sipgoban.Filter) prometheus.Collector { return filterCollector{f} }

func (c filterCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- cutDesc
	ch <- refusedReqDesc
}

func (c filterCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.f.Stats()
	ch <- prometheus.MustNewConstMetric(cutDesc, prometheus.CounterValue, float64(st.Cut))
	ch <- prometheus.MustNewConstMetric(refusedReqDesc, prometheus.CounterValue, float64(st.Blocked), "block")
	ch <- prometheus.MustNewConstMetric(refusedReqDesc, prometheus.CounterValue, float64(st.Guarded), "guard")
}
