package metrics_test

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/detect"
	"github.com/sipban/sipban/metrics"
)

// A Guard with the counting detector, and its records, on one registry.
func Example() {
	events := &metrics.Events{}
	g, err := ban.New(ban.Options{Logger: quiet, Detectors: []detect.Detector{events}})
	if err != nil {
		panic(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(events, metrics.Guard(g))

	for range 5 { // five wrong passwords
		ev := detect.Event{Source: netip.MustParseAddrPort("203.0.113.5:5060"), Method: "REGISTER",
			Status: 403, Account: "100", Credentials: true}
		_ = g.Observe(context.Background(), &ev)
	}
	mfs, err := reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "sipban_events_total", "sipban_records_made_total":
			for _, m := range mf.GetMetric() {
				fmt.Print(mf.GetName())
				for _, l := range m.GetLabel() {
					fmt.Printf(" %s=%s", l.GetName(), l.GetValue())
				}
				fmt.Println("", m.GetCounter().GetValue())
			}
		}
	}
	// Output:
	// sipban_events_total class=4xx method=REGISTER 5
	// sipban_records_made_total cause=bad-credentials scope=address 1
}
