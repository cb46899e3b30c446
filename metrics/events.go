package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipban/sipban/detect"
)

// methods are the values of the method label of sipban_events_total;
// any other method, however it is spelled, counts as "other": a sender
// chooses the method string, and a label value per string would let it
// grow the series without bound.
var methods = [...]string{"REGISTER", "INVITE", "OPTIONS", "ACK", "BYE", "CANCEL",
	"SUBSCRIBE", "NOTIFY", "MESSAGE", "INFO", "PRACK", "UPDATE", "REFER", "PUBLISH", "other"}

// classes are the values of the class label of sipban_events_total:
// "none" for a request given no final answer, "other" for a status
// outside 100-699.
var classes = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx", "6xx", "none", "other"}

const (
	otherMethod = len(methods) - 1
	noneClass   = 6
	otherClass  = 7
)

// Events is a detect.Detector that counts the events and findings it sees
// and finds nothing itself, and the prometheus.Collector of those counts.
// Put it last in ban.Options.Detectors: the findings it counts are those of
// the detectors before it (the standard one first). Observe costs a switch
// and two atomic adds and never allocates. Events is safe for concurrent use;
// the zero value is ready.
type Events struct {
	events   [len(methods)][len(classes)]atomic.Uint64
	guarded  atomic.Uint64
	findings [256]atomic.Uint64
}

var (
	_ detect.Detector      = (*Events)(nil)
	_ prometheus.Collector = (*Events)(nil)
)

var (
	eventsDesc = prometheus.NewDesc("sipban_events_total",
		"SIP transactions judged, by request method and final status class.", []string{"method", "class"}, nil)
	guardedDesc = prometheus.NewDesc("sipban_events_guarded_total",
		"Requests a guard refused without checking their credentials (detect.Event.Guarded).", nil, nil)
	findingsDesc = prometheus.NewDesc("sipban_findings_total",
		"Findings of the detectors, by cause.", []string{"cause"}, nil)
)

// Observe counts ev and the findings in dst, and returns dst unchanged.
func (e *Events) Observe(ev *detect.Event, dst []detect.Finding) []detect.Finding {
	e.events[methodIndex(ev.Method)][classIndex(ev.Status)].Add(1)
	if ev.Guarded {
		e.guarded.Add(1)
	}
	for i := range dst {
		e.findings[dst[i].Cause].Add(1)
	}
	return dst
}

func methodIndex(m string) int {
	switch m {
	case "REGISTER":
		return 0
	case "INVITE":
		return 1
	case "OPTIONS":
		return 2
	case "ACK":
		return 3
	case "BYE":
		return 4
	case "CANCEL":
		return 5
	case "SUBSCRIBE":
		return 6
	case "NOTIFY":
		return 7
	case "MESSAGE":
		return 8
	case "INFO":
		return 9
	case "PRACK":
		return 10
	case "UPDATE":
		return 11
	case "REFER":
		return 12
	case "PUBLISH":
		return 13
	}
	return otherMethod
}

func classIndex(status int) int {
	switch {
	case status == 0:
		return noneClass
	case status < 100 || status > 699:
		return otherClass
	}
	return status/100 - 1
}

// Describe implements prometheus.Collector.
func (e *Events) Describe(ch chan<- *prometheus.Desc) {
	ch <- eventsDesc
	ch <- guardedDesc
	ch <- findingsDesc
}

// Collect implements prometheus.Collector. Only the pairs of method and
// class seen so far are sent, and the causes found.
func (e *Events) Collect(ch chan<- prometheus.Metric) {
	for m := range e.events {
		for c := range e.events[m] {
			if n := e.events[m][c].Load(); n > 0 {
				ch <- prometheus.MustNewConstMetric(eventsDesc, prometheus.CounterValue, float64(n), methods[m], classes[c])
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(guardedDesc, prometheus.CounterValue, float64(e.guarded.Load()))
	for c := range e.findings {
		if n := e.findings[c].Load(); n > 0 {
			ch <- prometheus.MustNewConstMetric(findingsDesc, prometheus.CounterValue, float64(n), detect.Cause(c).String())
		}
	}
}
