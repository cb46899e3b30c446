package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/detect"
	"github.com/sipban/sipban/enforce"
	"github.com/sipban/sipban/metrics"
	"github.com/sipban/sipban/watch"
)

// meter is what -metrics measures, served on GET /metrics. A nil meter
// measures nothing, so that a run without -metrics pays for none of it.
type meter struct {
	reg    *prometheus.Registry
	events *metrics.Events
	ens    *metrics.Enforcers
	// mu serialises the Pairer's use with the scrapes that read its counts.
	mu sync.Mutex
}

func newMeter(addr string) *meter {
	if addr == "" {
		return nil
	}
	m := &meter{reg: prometheus.NewRegistry(), events: &metrics.Events{}, ens: metrics.NewEnforcers()}
	m.reg.MustRegister(prometheus.NewGoCollector(), m.events, m.ens)
	return m
}

func (m *meter) detectors() []detect.Detector {
	if m == nil {
		return nil
	}
	return []detect.Detector{m.events}
}

func (m *meter) enforcer(name string, e enforce.Enforcer) enforce.Enforcer {
	if m == nil {
		return e
	}
	return m.ens.Wrap(name, e)
}

// watch registers the counts of g and p; handling must then run under
// locked.
func (m *meter) watch(g *ban.Guard, p *watch.Pairer) {
	if m == nil {
		return
	}
	m.reg.MustRegister(metrics.Guard(g), metrics.Pairing(func() watch.Stats {
		m.mu.Lock()
		defer m.mu.Unlock()
		return p.Stats()
	}))
}

func locked[P any](m *meter, fn func(P) error) func(P) error {
	if m == nil {
		return fn
	}
	return func(p P) error {
		m.mu.Lock()
		defer m.mu.Unlock()
		return fn(p)
	}
}

func (m *meter) hep(hs *watch.HEPServer) {
	if m != nil {
		m.reg.MustRegister(metrics.HEP(hs))
	}
}

// serve serves GET /metrics on addr until ctx is done; the function it
// returns stops it, and may be called again.
func (m *meter) serve(ctx context.Context, out io.Writer, addr string) (stop func(), err error) {
	if m == nil {
		return func() {}, nil
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	return serveHTTP(ctx, out, "-metrics", addr, "metrics on http://%s/metrics", mux)
}

// serveHTTP serves h on addr until ctx is done or stop is called; what
// says what, with the address, for the log.
func serveHTTP(ctx context.Context, out io.Writer, flag, addr, what string, h http.Handler) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(out, "watch: serving "+what+"\n", ln.Addr())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(out, "watch: %s: %v\n", flag, err)
		}
	}()
	stopped := context.AfterFunc(ctx, func() { hs.Close() })
	return func() {
		stopped()
		hs.Close()
		<-done
	}, nil
}
