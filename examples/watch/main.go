// Command watch protects a SIP server that is not written in Go (Asterisk,
// FreeSWITCH, Kamailio, ...) by watching its traffic: it pairs each request
// with the server's final response, feeds the transactions to a sipban
// Guard, and prints the bans it makes. Given -enforcer, it also applies them.
//
// Read a capture (pcap or pcapng, from tcpdump or tshark):
//
//	go run ./examples/watch -r server.pcapng
//
// Or watch an interface live (root, Linux) and ban in the kernel:
//
//	sudo go run ./examples/watch -i eth0 -server 192.0.2.10:5060 -enforcer nftables
//
// Or receive the server's own mirror of its SIP over HEP, on UDP and TCP,
// which also shows SIP over TLS decrypted (watch/README.md has the lines
// Kamailio, OpenSIPS, FreeSWITCH and Asterisk need to send it):
//
//	go run ./examples/watch -hep 127.0.0.1:9060 -hep-key s3cret -hep-from 127.0.0.1
//
// With -hep the server is every address the mirrored requests are sent
// to, unless -server names it; give -server for a proxy whose mirror
// shows requests it forwards. HEP proves nothing about its sender: listen
// where only the SIP server reaches, and name it with -hep-from.
//
// As a service: -config FILE reads the settings from a TOML file whose
// keys are the flags' names, with a [policy] table (a ban.Policy, durations
// as "10m"); dist/ has an example and a systemd unit. -admin serves the
// operators' JSON API and pages (package ban/banhttp).
//
// -state FILE keeps the bans, their history and the known devices across
// restarts (package ban/banbolt); -redis HOST:PORT shares bans and lifts
// with the other edges of a fleet through Redis, and counts guesses spread
// over them as one (package ban/banredis).
//
// A capture is replayed as if it began when the program started, so that
// the bans it applies last as long as they would have.
//
// -metrics 127.0.0.1:9100 serves Prometheus metrics at /metrics (see
// package metrics): events, bans, drops, and the pairer's and HEP's counts.
//
// Loopback, the host's own addresses and -allow's prefixes are never
// banned, and the kernel spares them even inside a wider banned prefix
// (-ban-local takes loopback and the host's addresses off that list). A
// kernel ban drops the source's packets to -ports (5060 and 5061, TCP and
// UDP) only, or to every port with -all-ports.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/banbolt"
	"github.com/sipban/sipban/ban/banhttp"
	"github.com/sipban/sipban/detect"
	"github.com/sipban/sipban/enforce"
	"github.com/sipban/sipban/internal/kernel"
	"github.com/sipban/sipban/internal/redisfleet"
	"github.com/sipban/sipban/watch"
)

type config struct {
	file, iface     string
	hep, hepKey     string
	hepFrom         string
	servers         string
	enforcer, table string
	keep, json      bool
	scope           kernel.Flags
	metrics, admin  string
	state, redis    string
	policy          ban.Policy
}

func main() {
	var cfg config
	flag.StringVar(&cfg.file, "r", "", "read a pcap or pcapng `file` (\"-\" for standard input)")
	flag.StringVar(&cfg.iface, "i", "", "capture live on `interface` (Linux, root)")
	flag.StringVar(&cfg.hep, "hep", "", "receive HEP from the server on `address:port`, UDP and TCP")
	flag.StringVar(&cfg.hepKey, "hep-key", "", "with -hep, refuse HEP packets without this auth `key`")
	flag.StringVar(&cfg.hepFrom, "hep-from", "", "with -hep, read HEP only from these `prefixes`, comma-separated (a bare address is a /32 or /128)")
	flag.StringVar(&cfg.servers, "server", "", "the server's `address:port`, or several comma-separated (default: any address on port 5060 or 5061; with -hep, where the requests go)")
	flag.StringVar(&cfg.enforcer, "enforcer", "", "apply bans with `name`: nftables or iptables (root); empty only prints them")
	flag.StringVar(&cfg.table, "table", "sipban", "nftables table, or ipset name prefix")
	flag.BoolVar(&cfg.keep, "keep", false, "leave kernel bans in place on exit")
	flag.BoolVar(&cfg.json, "json", false, "print each ban's full record as JSON")
	flag.StringVar(&cfg.metrics, "metrics", "", "serve Prometheus metrics at http://`address:port`/metrics")
	flag.StringVar(&cfg.state, "state", "", "keep the bans, their history and the known devices across restarts in `file`; empty: in memory only")
	flag.StringVar(&cfg.redis, "redis", "", "share bans with a fleet of edges through Redis at `host:port`")
	flag.StringVar(&cfg.admin, "admin", "", "serve the operators' JSON API and pages (list, explain, lift; package ban/banhttp) on `address:port`, unauthenticated: keep it private")
	conf := flag.String("config", "", "read the settings from a TOML `file`: the flags' names as keys, and [policy]; flags given win")
	cfg.scope.Register(flag.CommandLine)
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "watch: unexpected arguments %q\n", flag.Args())
		flag.Usage()
		os.Exit(2)
	}
	if *conf != "" {
		if err := loadConfig(*conf, &cfg, flagsSet(flag.CommandLine)); err != nil {
			fmt.Fprintln(os.Stderr, "watch:", err)
			os.Exit(2)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, cfg); err != nil {
		stop()
		fmt.Fprintln(os.Stderr, "watch:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, cfg config) error {
	sources := 0
	for _, s := range []string{cfg.file, cfg.iface, cfg.hep} {
		if s != "" {
			sources++
		}
	}
	if sources != 1 {
		return errors.New("give one of -r file, -i interface or -hep address")
	}
	if (cfg.hepKey != "" || cfg.hepFrom != "") && cfg.hep == "" {
		return errors.New("-hep-key and -hep-from need -hep")
	}
	senders, err := kernel.ParsePrefixes("-hep-from", cfg.hepFrom)
	if err != nil {
		return err
	}
	server, err := parseServers(cfg.servers)
	if err != nil {
		return fmt.Errorf("-server: %w", err)
	}
	// A server's own mirror shows only its traffic: where the requests go
	// is the server.
	var dests *watch.Destinations
	if server == nil && cfg.hep != "" {
		dests = watch.NewDestinations(64)
		server = dests.Server
	}
	pairer, err := watch.NewPairer(watch.Options{Server: server})
	if err != nil {
		return err
	}
	sc, err := cfg.scope.Scope()
	if err != nil {
		return err
	}
	var capture io.Reader
	if cfg.file != "" {
		f, err := openFile(cfg.file)
		if err != nil {
			return err
		}
		defer f.Close()
		capture = f
	}
	if len(sc.Allow) > 0 {
		fmt.Fprintf(out, "watch: never banned (allow-list, %d): %s\n", len(sc.Allow), sc.AllowSummary())
	}
	m := newMeter(cfg.metrics)
	var enforcers []enforce.Enforcer
	if cfg.enforcer != "" {
		fmt.Fprintf(out, "watch: kernel bans drop ports %s\n", sc.PortsSummary())
		e, known, err := kernel.Open(ctx, cfg.enforcer, kernel.Options{Table: cfg.table, Keep: cfg.keep, Scope: sc})
		switch {
		case !known:
			return fmt.Errorf("-enforcer %q: want nftables or iptables", cfg.enforcer)
		case err != nil:
			return fmt.Errorf("-enforcer: %w", err)
		}
		defer e.Close()
		enforcers = append(enforcers, m.enforcer(cfg.enforcer, e))
	}

	// The Guard's clock follows the packets, shifted so that the first one
	// is now: a capture replays as if live, and live stays live. The fleet
	// reads it from a goroutine of its own.
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	var offset time.Duration
	started := false
	var bans atomic.Int64
	cfg.policy.Allow = append(cfg.policy.Allow, sc.Allow...)
	opts := ban.Options{
		Enforcers: enforcers,
		Detectors: m.detectors(),
		Policy:    cfg.policy,
		Now:       now,
		Logger:    slog.New(slog.DiscardHandler),
		OnBan: func(r ban.Record) {
			bans.Add(1)
			printBan(out, r, cfg.json)
		},
	}
	// The fleet's goroutines end before its client closes.
	var fleet *redisfleet.Fleet
	fctx, stopFleet := context.WithCancel(ctx)
	var fleetRuns sync.WaitGroup
	if cfg.redis != "" {
		if fleet, err = redisfleet.Open(cfg.redis, opts.Policy.Limits, slog.New(slog.NewTextHandler(out, nil))); err != nil {
			stopFleet()
			return fmt.Errorf("-redis: %w", err)
		}
		defer fleet.Close()
		fleet.Options(&opts)
		fmt.Fprintf(out, "watch: sharing bans through Redis at %s as edge %s\n", cfg.redis, fleet.Fleet.Edge())
	}
	defer fleetRuns.Wait()
	defer stopFleet()
	if cfg.state != "" {
		st, err := banbolt.Open(cfg.state, nil)
		if err != nil {
			return fmt.Errorf("-state: %w", err)
		}
		defer st.Close()
		opts.Store = st
	}
	g, err := ban.New(opts)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := g.Close(cctx); err != nil {
			fmt.Fprintln(out, "watch: state:", err)
		}
	}()
	if n, err := g.Restore(ctx); err != nil {
		return fmt.Errorf("-state %s: %w", cfg.state, err)
	} else if cfg.state != "" {
		fmt.Fprintf(out, "watch: %d records restored from %s\n", n, cfg.state)
	}
	if len(enforcers) > 0 {
		if _, err := g.Reconcile(ctx); err != nil {
			return err
		}
	}
	if fleet != nil {
		fleetRuns.Go(func() { _ = fleet.Run(fctx) })
		fleetRuns.Go(func() { _ = g.Follow(fctx) })
	}
	var lastExpire, lastResync time.Time
	var errs []error
	// The first ten errors are enough to say what went wrong.
	keep := func(err error) {
		if err != nil && len(errs) < 10 {
			errs = append(errs, err)
		}
	}
	emit := func(ev *detect.Event) {
		ev.Time = ev.Time.Add(offset)
		keep(g.Observe(ctx, ev))
	}
	// step handles one packet, pp if its parse was done already.
	step := func(p *watch.Packet, pp *watch.Parsed) error {
		if !started {
			started, offset = true, time.Since(p.Time)
		}
		clock.Store(p.Time.Add(offset).UnixNano())
		if dests != nil {
			dests.Learn(p)
		}
		if pp != nil {
			pairer.Parsed(pp, emit)
		} else {
			pairer.Packet(p, emit)
		}
		if t := now(); t.Sub(lastExpire) >= time.Second {
			lastExpire = t
			_, err := g.Expire(ctx, t)
			keep(err)
		}
		// Watching live, the Guard's clock is the packets', so this
		// loop, not Run, puts back what the kernel lost.
		if cfg.file == "" && len(enforcers) > 0 && now().Sub(lastResync) >= time.Minute {
			lastResync = now()
			_, err := g.Resync(ctx)
			keep(err)
		}
		return nil
	}
	m.watch(g, pairer)
	handle := locked(m, func(p *watch.Packet) error { return step(p, nil) })
	handleParsed := locked(m, func(pp *watch.Parsed) error { return step(&pp.Packet, pp) })
	stopMetrics, err := m.serve(ctx, out, cfg.metrics)
	if err != nil {
		return err
	}
	defer stopMetrics()
	if cfg.admin != "" {
		api, err := banhttp.New(g, banhttp.Options{Unauthenticated: true})
		if err != nil {
			return err
		}
		stopAdmin, err := serveHTTP(ctx, out, "-admin", cfg.admin, "the operators' API and pages on http://%s/ui/bans", api)
		if err != nil {
			return err
		}
		defer stopAdmin()
	}
	d := watch.NewDecoder()
	var hs *watch.HEPServer
	switch {
	case cfg.file != "":
		if err = watch.ReadParsed(capture, d, handleParsed); err != nil {
			// Named here; the package's "watch:" would repeat the command's.
			err = fmt.Errorf("-r %s: %s", cfg.file, strings.TrimPrefix(err.Error(), "watch: "))
		}
	case cfg.iface != "":
		var live *watch.Live
		if live, err = watch.OpenLive(cfg.iface); err != nil {
			return err
		}
		defer live.Close()
		fmt.Fprintf(out, "watch: capturing on %s\n", cfg.iface)
		err = live.Run(ctx, d, handle)
	default:
		if hs, err = serveHEP(ctx, out, cfg, senders, m, handle); err != nil {
			return err
		}
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	stopMetrics() // the Pairer is used unlocked from here
	// Report what never got an answer: an hour past the last packet is
	// past any request's timeout.
	pairer.Expire(now().Add(-offset).Add(time.Hour), emit)
	st := pairer.Stats()
	skipped := fmt.Sprintf("%d frames skipped", d.Skipped)
	if hs != nil {
		hst := hs.Stats()
		skipped = fmt.Sprintf("%d HEP packets refused, %d not SIP", hst.Refused, hst.Unsupported)
	}
	fmt.Fprintf(out, "watch: %d SIP messages, %d transactions paired, %d unanswered, %d unreadable, %s; %d bans\n",
		st.Messages, st.Paired, st.Unanswered, st.Malformed, skipped, bans.Load())
	return errors.Join(errs...)
}

// serveHEP receives HEP on cfg.hep, UDP and TCP on one port, until ctx is
// done. It returns the server, for its counts, and what stopped it if not
// ctx.
func serveHEP(ctx context.Context, out io.Writer, cfg config, senders []netip.Prefix, m *meter, fn func(*watch.Packet) error) (*watch.HEPServer, error) {
	hs, err := watch.NewHEPServer(watch.HEPOptions{AuthKey: cfg.hepKey, Senders: senders, Logger: slog.New(slog.NewTextHandler(out, nil))})
	if err != nil {
		return nil, err
	}
	m.hep(hs)
	pc, ln, err := listenHEP(cfg.hep)
	if err != nil {
		return nil, fmt.Errorf("-hep: %w", err)
	}
	fmt.Fprintf(out, "watch: receiving HEP on %s (udp and tcp)\n", pc.LocalAddr())
	err = hs.Serve(ctx, pc, ln, fn)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return hs, err
}

// listenHEP listens on addr over UDP and TCP. Given port 0, it takes a
// port free for both.
func listenHEP(addr string) (net.PacketConn, net.Listener, error) {
	for range 10 {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, err
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		if _, port, _ := net.SplitHostPort(addr); port != "0" {
			return nil, nil, err
		}
	}
	return nil, nil, errors.New("no port free for both UDP and TCP")
}

// openFile opens the -r capture file, "-" for standard input.
func openFile(name string) (io.ReadCloser, error) {
	if name == "-" {
		return io.NopCloser(os.Stdin), nil
	}
	return os.Open(name)
}

func parseServers(s string) (func(netip.AddrPort) bool, error) {
	if s == "" {
		return nil, nil
	}
	set := map[netip.AddrPort]bool{}
	for _, f := range strings.Split(s, ",") {
		ap, err := netip.ParseAddrPort(strings.TrimSpace(f))
		if err != nil {
			return nil, err
		}
		set[netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())] = true
	}
	return func(a netip.AddrPort) bool { return set[a] }, nil
}

func printBan(out io.Writer, r ban.Record, asJSON bool) {
	if asJSON {
		b, _ := json.Marshal(r)
		fmt.Fprintln(out, string(b))
		return
	}
	fmt.Fprintf(out, "ban %s (%s, %s) until %s: %s\n", r.Subject, r.Scope, r.Cause,
		r.Until.Format(time.RFC3339), r.Diagnosis.Summary)
}
