package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipban/sipban/watch"
)

var (
	messagesDesc = prometheus.NewDesc("sipban_watch_messages_total", "SIP messages the pairer read.", nil, nil)
	pairingDesc  = prometheus.NewDesc("sipban_watch_pairing_total",
		`What the pairer made of the messages: outcome="paired", "unanswered", "evicted" (MaxPending were waiting), "retransmit", "unmatched" (a response to no request seen), "malformed", "ignored".`,
		[]string{"outcome"}, nil)
	nonceDesc = prometheus.NewDesc("sipban_watch_nonces_total",
		`Nonces of challenges: outcome="remembered", "evicted" (forgotten early to make room), "proven" (events proven by one).`,
		[]string{"outcome"}, nil)
	hepDesc = prometheus.NewDesc("sipban_hep_packets_total",
		"HEP packets read: outcome=\"sip\" passed on, \"unsupported\", \"refused\".", []string{"outcome"}, nil)
	hepConnsDesc = prometheus.NewDesc("sipban_hep_connections_total",
		`HEP TCP connections: outcome="served", "full" (closed at once, MaxConns open).`, []string{"outcome"}, nil)
)

type pairingCollector struct{ stats func() watch.Stats }

// Pairing returns a collector of a watch.Pairer's counts, which stats
// returns. A Pairer is not safe for concurrent use, and scrapes come from
// other goroutines: stats must take what serialises the Pairer's use.
func Pairing(stats func() watch.Stats) prometheus.Collector { return pairingCollector{stats} }

func (c pairingCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- messagesDesc
	ch <- pairingDesc
	ch <- nonceDesc
}

func (c pairingCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	ch <- prometheus.MustNewConstMetric(messagesDesc, prometheus.CounterValue, float64(st.Messages))
	for _, m := range []struct {
		outcome string
		v       int
	}{{"paired", st.Paired}, {"unanswered", st.Unanswered}, {"evicted", st.Evicted},
		{"retransmit", st.Retransmit}, {"unmatched", st.Unmatched}, {"malformed", st.Malformed}, {"ignored", st.Ignored}} {
		ch <- prometheus.MustNewConstMetric(pairingDesc, prometheus.CounterValue, float64(m.v), m.outcome)
	}
	ch <- prometheus.MustNewConstMetric(nonceDesc, prometheus.CounterValue, float64(st.Nonces), "remembered")
	ch <- prometheus.MustNewConstMetric(nonceDesc, prometheus.CounterValue, float64(st.NoncesEvicted), "evicted")
	ch <- prometheus.MustNewConstMetric(nonceDesc, prometheus.CounterValue, float64(st.Proven), "proven")
}

type hepCollector struct{ s *watch.HEPServer }

// HEP returns a collector of s's counts.
func HEP(s *watch.HEPServer) prometheus.Collector { return hepCollector{s} }

func (c hepCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- hepDesc
	ch <- hepConnsDesc
}

func (c hepCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	ch <- prometheus.MustNewConstMetric(hepDesc, prometheus.CounterValue, float64(st.Packets), "sip")
	ch <- prometheus.MustNewConstMetric(hepDesc, prometheus.CounterValue, float64(st.Unsupported), "unsupported")
	ch <- prometheus.MustNewConstMetric(hepDesc, prometheus.CounterValue, float64(st.Refused), "refused")
	ch <- prometheus.MustNewConstMetric(hepConnsDesc, prometheus.CounterValue, float64(st.Conns), "served")
	ch <- prometheus.MustNewConstMetric(hepConnsDesc, prometheus.CounterValue, float64(st.ConnsFull), "full")
}
