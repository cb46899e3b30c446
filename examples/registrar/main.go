// Command registrar runs a digest-authenticating SIP registrar protected by
// sipban, with the operator's JSON API and pages to list and lift bans, and
// optionally the customers' self-service portal (package ban/banhttp).
//
//	go run ./examples/registrar -listen 127.0.0.1:5060 -users users.txt -admin 127.0.0.1:8080 -portal 127.0.0.1:8081
//
// -tcp and -tls serve SIP over TCP and TLS too; a banned source's
// connections are cut. -cert and -key name the TLS certificate and key
// (PEM); without them it makes a self-signed one for this run, for the
// -tls host, localhost and 127.0.0.1, and logs its SHA-256 fingerprint.
//
// Attack it with sipp or ban/bantest, then see the bans:
//
//	curl -s 127.0.0.1:8080/bans
//	curl -s -X DELETE 127.0.0.1:8080/bans/127.0.0.2
//	curl -s 127.0.0.1:8080/metrics   # Prometheus (see package metrics)
//
// -admin serves whoever reaches it as an operator: keep it private. On
// -portal a customer logs in (HTTP Basic) with a SIP account and its
// password, and sees the records of that account and of the addresses it
// registered from, at /ui/bans in a browser, and lifts them after saying
// which cause they fixed; wrong passwords there count as guesses.
//
// As root, -enforcer nftables or iptables also bans in the kernel; -table
// names the nftables table or the ipset prefix, and -keep leaves the bans in
// the kernel on exit, for the next run to adopt. A kernel ban drops the
// source's packets to -ports (5060 and 5061, TCP and UDP) only, or to every
// port with -all-ports.
//
// Loopback, the host's own addresses and -allow's prefixes are never
// banned, and the kernel spares them even inside a wider banned prefix;
// -ban-local takes loopback and the host's addresses off that list (to
// attack the demo from 127.0.0.2).
//
// The bans, account blocks and guards, with their evidence, the offence
// history that makes a repeat offender's next ban longer, the devices known
// by their logins and the customers' lifts are kept in -state (sipban.db in
// the working directory by default; -state "" keeps them in memory only).
// A restart, or a crash, loses none: it restores them and re-applies the
// bans, and with -keep the kernel's bans are matched to their records. A
// file that is not a sipban state file, or is damaged, is refused, never
// replaced.
//
// -redis HOST:PORT joins a fleet of edges sharing one Redis (package
// ban/banredis): a ban made on one edge holds on all of them, a lift lifts
// it everywhere, and guessing spread over the edges is counted as if at
// one. Each edge keeps its own allow-list and its own state file; with
// Redis away, each goes on alone and catches up once it is back.
//
// SIGHUP re-reads the -users file without a restart: changed passwords
// apply to the next request, and the bans stay. A file that does not parse,
// or has no active account, is logged and the accounts read before stay.
// SIGINT and SIGTERM stop it.
package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/banbolt"
	"github.com/sipban/sipban/detect"
	"github.com/sipban/sipban/enforce"
	"github.com/sipban/sipban/internal/kernel"
	"github.com/sipban/sipban/internal/redisfleet"
	"github.com/sipban/sipban/internal/registrar"
	"github.com/sipban/sipban/internal/selfsigned"
)

// DefaultState is -state's default: a file in the working directory.
const DefaultState = "sipban.db"

// demoUsers are the accounts served when -users is not given.
const demoUsers = `alice:alice-secret
bob:bob-secret
carol:carol-secret
!olduser
`

func main() {
	var cfg config
	flag.StringVar(&cfg.listen, "listen", registrar.DefaultListen, "UDP `address` to serve SIP on")
	flag.StringVar(&cfg.users, "users", "", "accounts `file`, re-read on SIGHUP: \"name:password\" per line, \"~name:password\" for a test account;\n\"!name\" or \"!~name\" marks a deleted one, optionally with its date: \"!name 2026-11-20\" or \"!name 2026-11-20T10:00:00Z\"; '#' comments\n(default: a built-in demo set, printed at start)")
	flag.StringVar(&cfg.tcp, "tcp", "", "TCP `address` to serve SIP on too; empty disables")
	flag.StringVar(&cfg.tls, "tls", "", "TLS `address` to serve SIP on too (5061 is the usual port); empty disables")
	flag.StringVar(&cfg.cert, "cert", "", "TLS certificate `file` (PEM) for -tls; empty: a self-signed one, made at start")
	flag.StringVar(&cfg.key, "key", "", "TLS private key `file` (PEM) for -cert")
	flag.StringVar(&cfg.realm, "realm", registrar.DefaultRealm, "digest `realm`")
	flag.StringVar(&cfg.admin, "admin", "127.0.0.1:8080", "HTTP `address` of the operator's API and pages, unauthenticated; empty disables")
	flag.StringVar(&cfg.portal, "portal", "", "HTTP `address` of the customers' self-service pages and API (log in with a SIP account); empty disables")
	flag.StringVar(&cfg.enforcer, "enforcer", "memory", "`name` of the enforcer: memory, nftables or iptables (root)")
	flag.StringVar(&cfg.table, "table", "sipban", "nftables table, or ipset name prefix, for -enforcer nftables or iptables")
	flag.BoolVar(&cfg.keep, "keep", false, "leave kernel bans in place on exit, for the next run to adopt")
	flag.StringVar(&cfg.redis, "redis", "", "Redis `host:port` shared by a fleet of edges: bans and lifts reach every edge, guessing spread over them is counted as one; empty: this edge alone")
	flag.StringVar(&cfg.state, "state", DefaultState, "`file` keeping the bans, their history, the known devices and the lifts across restarts; empty keeps them in memory only")
	cfg.scope.Register(flag.CommandLine)
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "registrar: unexpected arguments %q\n", flag.Args())
		flag.Usage()
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	// Before serving, so that an early SIGHUP does not kill the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	cfg.reload = hup
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log, cfg); err != nil {
		stop()
		log.Error("registrar: stopped", "error", err)
		os.Exit(1)
	}
}

type config struct {
	listen, users, realm, admin string
	tcp, tls, cert, key         string
	portal                      string
	enforcer, table             string
	keep                        bool
	state, redis                string
	scope                       kernel.Flags
	reload                      <-chan os.Signal // each re-reads users; nil: never
}

// run serves SIP, the JSON API and the Guard, re-reading the users at each
// signal on cfg.reload, until ctx is done or the first failure, which it
// returns.
func run(ctx context.Context, log *slog.Logger, cfg config) error {
	accounts, err := loadUsers(cfg.users)
	if err != nil {
		return fmt.Errorf("-users: %w", err)
	}
	sc, err := cfg.scope.Scope()
	if err != nil {
		return err
	}
	log.Info("registrar: allow-listed, never banned", "count", len(sc.Allow), "prefixes", sc.AllowSummary())
	ke, err := openEnforcer(ctx, cfg, sc)
	if err != nil {
		return fmt.Errorf("-enforcer %s: %w", cfg.enforcer, err)
	}
	dir := registrar.NewDirectory(accounts)
	// Explanations ask the directory which accounts exist, went or changed.
	m := registrar.NewMetrics()
	opts := ban.Options{Logger: log, Policy: ban.Policy{Allow: sc.Allow}, Directory: dir, Detectors: []detect.Detector{m.Events}}
	if ke != nil {
		log.Info("registrar: kernel bans drop these destination ports", "enforcer", cfg.enforcer, "ports", sc.PortsSummary())
		defer func() {
			if err := ke.Close(); err != nil {
				log.Error("registrar: closing the enforcer", "error", err)
			}
		}()
		opts.Enforcers = []enforce.Enforcer{m.Enforcers.Wrap(cfg.enforcer, ke)}
	}
	var fleet *redisfleet.Fleet
	if cfg.redis != "" {
		if fleet, err = redisfleet.Open(cfg.redis, opts.Policy.Limits, log); err != nil {
			return fmt.Errorf("-redis: %w", err)
		}
		defer fleet.Close()
		fleet.Options(&opts)
		log.Info("registrar: sharing bans with the fleet", "redis", cfg.redis, "edge", fleet.Fleet.Edge())
	}
	if cfg.state != "" {
		st, err := banbolt.Open(cfg.state, nil)
		if err != nil {
			return fmt.Errorf("-state: %w", err)
		}
		defer func() {
			if err := st.Close(); err != nil {
				log.Error("registrar: closing the state file", "error", err)
			}
		}()
		opts.Store = st
	}
	g, err := ban.New(opts)
	if err != nil {
		return err
	}
	defer func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer ccancel()
		if err := g.Close(cctx); err != nil {
			log.Error("registrar: writing the last changes to the state file", "error", err)
		}
	}()
	if n, err := g.Restore(ctx); err != nil {
		return fmt.Errorf("-state %s: %w", cfg.state, err)
	} else if cfg.state != "" {
		log.Info("registrar: state restored", "file", cfg.state, "records", n)
	}
	// Bans a previous run kept in the kernel are matched to the records
	// restored; those still unknown become records to see and lift.
	if n, err := g.Reconcile(ctx); err != nil {
		return fmt.Errorf("-enforcer %s: %w", cfg.enforcer, err)
	} else if n > 0 {
		log.Info("registrar: adopted bans left in the kernel", "count", n)
	}
	srv, err := registrar.New(registrar.Config{Listen: cfg.listen, Directory: dir, Realm: cfg.realm, Guard: g, Logger: log})
	if err != nil {
		return err
	}
	if err := m.Register(g, srv); err != nil {
		return err
	}

	portal, err := registrar.PortalHandler(g, dir)
	if err != nil {
		return err
	}
	streams, err := listenStreams(log, cfg)
	if err != nil {
		return err
	}
	var sites []site
	for _, s := range []site{{flag: "-admin", addr: cfg.admin, h: registrar.WithMetrics(registrar.AdminHandler(g), m), who: "operator"}, {flag: "-portal", addr: cfg.portal, h: portal, who: "customers"}} {
		if s.addr == "" {
			continue
		}
		if s.ln, err = net.Listen("tcp", s.addr); err != nil {
			for _, o := range sites {
				o.ln.Close()
			}
			for _, st := range streams {
				st.ln.Close()
			}
			return fmt.Errorf("%s %s: %w", s.flag, s.addr, err)
		}
		sites = append(sites, s)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// Each part runs until ctx is done; the first to end stops the others.
	done := make(chan error, 4+len(sites)+len(streams))
	parts := 3
	go func() { done <- g.Run(ctx) }()
	if fleet != nil {
		parts++
		go func() { done <- fleet.Run(ctx) }()
	}
	go func() { done <- srv.ListenAndServe(ctx) }()
	go func() { done <- reloads(ctx, log, cfg, srv) }()
	for _, st := range streams {
		parts++
		go func() {
			if st.conf != nil {
				done <- srv.ServeTLS(ctx, st.ln, st.conf)
			} else {
				done <- srv.ServeTCP(ctx, st.ln)
			}
		}()
	}
	for _, s := range sites {
		parts++
		hs := &http.Server{Handler: s.h, ReadHeaderTimeout: 5 * time.Second}
		log.Info("registrar: serving HTTP", "for", s.who, "http", s.ln.Addr().String())
		go func() {
			err := hs.Serve(s.ln)
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			done <- err
		}()
		context.AfterFunc(ctx, func() {
			sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer scancel()
			_ = hs.Shutdown(sctx)
		})
	}
	var first error
	for range parts {
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) && first == nil {
			first = err
		}
		cancel()
	}
	if first == nil {
		log.Info("registrar: shut down")
	}
	return first
}

// site is one HTTP listener: the operator's or the customers'.
type site struct {
	flag, addr string
	h          http.Handler
	who        string
	ln         net.Listener
}

// stream is a SIP listener over TCP, or TLS with conf.
type stream struct {
	ln   net.Listener
	conf *tls.Config
}

// listenStreams binds -tcp and -tls, loading or making the certificate.
func listenStreams(log *slog.Logger, cfg config) ([]stream, error) {
	if cfg.tls == "" && (cfg.cert != "" || cfg.key != "") {
		return nil, errors.New("-cert and -key need -tls")
	}
	var streams []stream
	fail := func(err error) ([]stream, error) {
		for _, st := range streams {
			st.ln.Close()
		}
		return nil, err
	}
	if cfg.tcp != "" {
		ln, err := net.Listen("tcp", cfg.tcp)
		if err != nil {
			return fail(fmt.Errorf("-tcp %s: %w", cfg.tcp, err))
		}
		streams = append(streams, stream{ln: ln})
	}
	if cfg.tls != "" {
		cert, err := certificate(log, cfg)
		if err != nil {
			return fail(err)
		}
		ln, err := net.Listen("tcp", cfg.tls)
		if err != nil {
			return fail(fmt.Errorf("-tls %s: %w", cfg.tls, err))
		}
		conf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		streams = append(streams, stream{ln: ln, conf: conf})
	}
	return streams, nil
}

// certificate loads -cert and -key, or makes a self-signed certificate when
// neither is given.
func certificate(log *slog.Logger, cfg config) (tls.Certificate, error) {
	switch {
	case cfg.cert != "" && cfg.key != "":
		cert, err := tls.LoadX509KeyPair(cfg.cert, cfg.key)
		if err != nil {
			return cert, fmt.Errorf("-cert %s -key %s: %w", cfg.cert, cfg.key, err)
		}
		return cert, nil
	case cfg.cert != "" || cfg.key != "":
		return tls.Certificate{}, errors.New("-cert and -key: give both or neither")
	}
	host, _, err := net.SplitHostPort(cfg.tls)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("-tls %s: %w", cfg.tls, err)
	}
	cert, err := selfSigned(host)
	if err != nil {
		return cert, fmt.Errorf("-tls: %w", err)
	}
	sum := sha256.Sum256(cert.Certificate[0])
	log.Warn("registrar: no -cert; serving TLS with a self-signed certificate made for this run",
		"sha256", fingerprint(sum[:]))
	return cert, nil
}

// selfSigned returns an ECDSA P-256 certificate signed by its own key, for
// host (if any), localhost and the loopback addresses, valid for a year.
func selfSigned(host string) (tls.Certificate, error) {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() && !ip.IsLoopback() {
		hosts = append(hosts, host)
	} else if ip == nil && host != "" && host != "localhost" {
		hosts = append(hosts, host)
	}
	return selfsigned.New("sipban registrar", 365*24*time.Hour, hosts...)
}

// fingerprint writes a digest as openssl x509 -fingerprint does: "AB:CD:…".
func fingerprint(sum []byte) string {
	h := strings.ToUpper(hex.EncodeToString(sum))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// reloads re-reads the users file into srv at each signal on
// cfg.reload, until ctx is done.
func reloads(ctx context.Context, log *slog.Logger, cfg config, srv *registrar.Server) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-cfg.reload:
			reload(log, cfg.users, srv)
		}
	}
}

// reload reads the users file name again and serves it, or logs why not
// and leaves the accounts as they were.
func reload(log *slog.Logger, name string, srv *registrar.Server) {
	if name == "" {
		log.Warn("registrar: SIGHUP: no -users file to re-read; the demo accounts stay")
		return
	}
	a, err := readUsers(name)
	if err == nil && len(a.Users) == 0 {
		// A file caught while it is rewritten may be empty: serving it
		// would delete every account.
		err = errors.New("no active account in the file")
	}
	if err != nil {
		log.Error("registrar: reload failed; the accounts read before stay", "file", name, "error", err)
		return
	}
	c := srv.Reload(a)
	log.Info("registrar: reloaded accounts", "file", name, "accounts", c.Accounts, "added", c.Added,
		"passwords_changed", c.Passwords, "deleted", c.Deleted)
}

// loadUsers reads the accounts file, or returns the demo set after
// printing it, so that whoever runs the demo knows the passwords.
func loadUsers(name string) (registrar.Accounts, error) {
	if name == "" {
		a, err := registrar.ParseUsers(strings.NewReader(demoUsers))
		if err != nil {
			return a, err
		}
		fmt.Println("registrar: no -users file; serving the demo accounts:")
		_, err = a.WriteTo(os.Stdout)
		return a, err
	}
	return readUsers(name)
}

// readUsers reads the accounts file name.
func readUsers(name string) (registrar.Accounts, error) {
	f, err := os.Open(name)
	if err != nil {
		return registrar.Accounts{}, err
	}
	defer f.Close()
	return registrar.ParseUsers(f)
}

// openEnforcer returns the kernel enforcer asked for, or nil for memory
// (the Guard always has its in-memory one).
func openEnforcer(ctx context.Context, cfg config, sc kernel.Scope) (kernel.Enforcer, error) {
	if cfg.enforcer == "memory" {
		return nil, nil
	}
	e, known, err := kernel.Open(ctx, cfg.enforcer, kernel.Options{Table: cfg.table, Keep: cfg.keep, Scope: sc})
	if !known {
		return nil, fmt.Errorf("unknown enforcer %q: want memory, nftables or iptables", cfg.enforcer)
	}
	return e, err
}
