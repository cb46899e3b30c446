package registrar

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/metrics"
)

// Metrics is what a registrar measures (see package metrics): give
// Events (last in ban.Options.Detectors) and Enforcers' wraps to the Guard, Register the Guard and the
// Server once they exist, and serve Handler.
type Metrics struct {
	Events    *metrics.Events
	Enforcers *metrics.Enforcers
	reg       *prometheus.Registry
}

// NewMetrics returns Metrics on a registry of their own, with the Go
// runtime's and the process's metrics.
func NewMetrics() *Metrics {
	m := &Metrics{Events: &metrics.Events{}, Enforcers: metrics.NewEnforcers(), reg: prometheus.NewRegistry()}
	m.reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}), m.Events, m.Enforcers)
	return m
}

// Register adds g's counts and srv's (its in-memory drops as enforcer
// "memory"). Call it once.
func (m *Metrics) Register(g *ban.Guard, srv *Server) error {
	m.Enforcers.Count("memory", srv.filter)
	if err := m.reg.Register(metrics.Guard(g)); err != nil {
		return err
	}
	return m.reg.Register(metrics.Filter(srv.filter))
}

// WithMetrics returns admin with GET /metrics served from m beside it.
func WithMetrics(admin http.Handler, m *Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.Handle("/", admin)
	return mux
}
