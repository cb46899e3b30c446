package registrar

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/sipgoban"
	"github.com/sipban/sipban/sipauth"
)

// DefaultRealm is the digest realm of a Config with none.
const DefaultRealm = "sipban.local"

// DefaultListen is the UDP address of a Config with none.
const DefaultListen = "127.0.0.1:5060"

// maxCounted bounds the sources (or account names) each count of a Server
// keeps, so that a spray from many addresses, or of many names, cannot grow
// memory without limit.
const maxCounted = 100_000

// counter counts per key, for at most maxCounted keys: once it is full, new
// keys are not counted. Its user holds the lock.
type counter[K comparable] map[K]int

func (c counter[K]) add(k K) {
	if _, ok := c[k]; ok || len(c) < maxCounted {
		c[k]++
	}
}

// Config configures a Server.
type Config struct {
	// Listen is the UDP address ListenAndServe binds; empty means DefaultListen.
	// Port 0 picks a free port, which Serve logs.
	Listen string
	// Accounts are the users that may register and call.
	Accounts Accounts
	// Directory serves the accounts instead, for a caller that needs it
	// before the Server, to give it to the Guard; nil means one made from
	// Accounts. Give one of the two.
	Directory *Directory
	// Realm is the digest realm; empty means DefaultRealm.
	Realm string
	// Guard judges every transaction and holds the bans. Required. The
	// caller runs its Run method.
	Guard *ban.Guard
	// Logger receives the server's events, and a debug line per answer;
	// nil means slog.Default().
	Logger *slog.Logger
}

// Server is a SIP registrar over UDP, TCP and TLS, protected by a ban.Guard:
// packets from banned sources are dropped before they are parsed, their
// connections cut, and every request that is answered becomes an event for
// the Guard. It keeps no location service: registrations are checked and
// acknowledged, calls are authenticated and answered 480.
//
// A Server serves each transport once: Serve, ServeTCP and ServeTLS may run
// together, and once the last returns the Server is done. Its methods are
// safe for concurrent use.
type Server struct {
	dir     *Directory
	realm   string
	listen  string
	guard   *ban.Guard
	filter  *sipgoban.Filter
	log     *slog.Logger
	auth    *sipauth.Authenticator
	ua      *sipgo.UserAgent
	sip     *sipgo.Server
	started [transports]atomic.Bool

	servingMu sync.Mutex
	serving   int  // transports being served
	stopped   bool // the last one has stopped, and the UserAgent is closed

	mu             sync.Mutex
	handled        counter[netip.Addr]
	checked        counter[netip.Addr]
	checkedAccount counter[string]
}

// New returns a Server configured by cfg. It starts nothing.
func New(cfg Config) (*Server, error) {
	if cfg.Guard == nil {
		return nil, errors.New("registrar: Config.Guard is nil")
	}
	dir := cfg.Directory
	switch {
	case dir == nil:
		dir = NewDirectory(cfg.Accounts)
	case cfg.Accounts.Users != nil || cfg.Accounts.Deleted != nil || cfg.Accounts.DeletedAt != nil || cfg.Accounts.Test != nil:
		return nil, errors.New("registrar: Config has both Accounts and a Directory")
	}
	s := &Server{
		dir:            dir,
		realm:          cfg.Realm,
		listen:         cfg.Listen,
		guard:          cfg.Guard,
		filter:         sipgoban.NewFilter(cfg.Guard),
		log:            cfg.Logger,
		handled:        make(counter[netip.Addr]),
		checked:        make(counter[netip.Addr]),
		checkedAccount: make(counter[string]),
	}
	if s.realm == "" {
		s.realm = DefaultRealm
	}
	auth, err := sipauth.New(sipauth.Options{Realm: s.realm})
	if err != nil {
		return nil, fmt.Errorf("registrar: %w", err)
	}
	s.auth = auth
	if s.listen == "" {
		s.listen = DefaultListen
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent("sipban-registrar"),
		sipgo.WithUserAgentTransportLayerOptions(
			s.filter.TransportOption(),
			sip.WithTransportLayerLogger(slog.New(sipgoban.NewLogHandler(s.log.Handler(), nil))),
		),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(s.log)),
	)
	if err != nil {
		return nil, fmt.Errorf("registrar: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(s.log))
	if err != nil {
		return nil, fmt.Errorf("registrar: %w", err)
	}
	s.ua, s.sip = ua, srv
	srv.OnRegister(s.handle(s.register))
	srv.OnInvite(s.handle(s.invite))
	srv.OnOptions(s.handle(s.options))
	// Only ACKs to a 2xx reach a handler, and no INVITE is answered 2xx.
	srv.OnAck(s.handle(func(*sip.Request, sip.ServerTransaction) {}))
	srv.OnBye(s.handle(noDialog))
	srv.OnCancel(s.handle(noDialog))
	srv.OnNoRoute(s.handle(notAllowed))
	return s, nil
}

// ListenAndServe binds Config.Listen and serves on it until ctx is done.
func (s *Server) ListenAndServe(ctx context.Context) error {
	var lc net.ListenConfig
	conn, err := lc.ListenPacket(ctx, "udp", s.listen)
	if err != nil {
		return fmt.Errorf("registrar: %w", err)
	}
	return s.Serve(ctx, conn)
}

// Serve answers SIP requests arriving on conn until ctx is done, then closes
// conn and returns ctx.Err(). It returns at once with an error if the Server
// has served UDP before, or has stopped serving.
func (s *Server) Serve(ctx context.Context, conn net.PacketConn) error {
	return s.serve(ctx, udp, conn, conn.LocalAddr(), func() error { return s.sip.ServeUDP(conn) })
}

// ServeTCP is Serve for SIP over the TCP connections l accepts. A banned
// source's connections are cut (sipgoban.Listener): at once, or at their
// next read if the ban comes while they are open.
func (s *Server) ServeTCP(ctx context.Context, l net.Listener) error {
	bl := s.filter.Listener(l)
	return s.serve(ctx, tcp, l, l.Addr(), func() error { return s.sip.ServeTCP(bl) })
}

// ServeTLS is ServeTCP over TLS configured by conf, which holds the
// server's certificate. A banned source is cut before its handshake.
func (s *Server) ServeTLS(ctx context.Context, l net.Listener, conf *tls.Config) error {
	tl := tls.NewListener(s.filter.Listener(l), conf)
	return s.serve(ctx, tlsTransport, l, l.Addr(), func() error { return s.sip.ServeTLS(tl) })
}

// transport indexes the Server's transports.
type transport int

const (
	udp transport = iota
	tcp
	tlsTransport
	transports
)

var transportNames = [transports]struct{ method, key string }{
	udp: {"Serve", "udp"}, tcp: {"ServeTCP", "tcp"}, tlsTransport: {"ServeTLS", "tls"},
}

// serve runs one transport's loop until ctx is done, then closes c. The
// transports share one sipgo UserAgent, closed when the last loop ends; a
// Server serves each transport once.
func (s *Server) serve(ctx context.Context, tp transport, c io.Closer, addr net.Addr, run func() error) error {
	name := transportNames[tp]
	if !s.started[tp].CompareAndSwap(false, true) {
		c.Close()
		return fmt.Errorf("registrar: %s called twice", name.method)
	}
	s.servingMu.Lock()
	if s.stopped {
		s.servingMu.Unlock()
		c.Close()
		if err := ctx.Err(); err != nil {
			return err // shut down before this transport started: no misuse
		}
		return fmt.Errorf("registrar: %s: the Server has stopped serving", name.method)
	}
	s.serving++
	s.servingMu.Unlock()
	defer func() {
		s.servingMu.Lock()
		defer s.servingMu.Unlock()
		if s.serving--; s.serving == 0 {
			s.stopped = true
			s.ua.Close()
		}
	}()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	s.log.Info("registrar: serving SIP", name.key, addr.String(), "realm", s.realm)
	err := run()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	c.Close()
	if err == nil {
		err = errors.New("connection closed")
	}
	return fmt.Errorf("registrar: %w", err)
}

// Directory returns the accounts the Server serves, which the Guard may
// ask when it explains a ban.
func (s *Server) Directory() *Directory { return s.dir }

// Reload serves a from now on, for requests not yet checked, and notes what
// changed at the current time; see Directory.Reload.
func (s *Server) Reload(a Accounts) Changes { return s.dir.Reload(a, time.Now()) }

// Handled returns how many requests from addr reached a handler and were
// judged by the Guard: the read filter let them through, sipgo parsed them,
// and Wrap did not refuse them (blocked account, scanner).
// Retransmissions, which sipgo answers itself, are not counted. A request is
// counted only after the Guard has seen it, so once the count includes a
// request, any ban it caused is in place. Once maxCounted sources are
// counted, new sources are not.
func (s *Server) Handled(addr netip.Addr) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.handled[addr.Unmap()]
}

// Checked returns how many guesses from addr were evaluated: requests
// whose password the registrar checked, right or wrong (sipauth's verdict
// Rejected or Accepted, for an account that exists). Requests challenged,
// credentials over a nonce not issued to addr, and requests a guard or an
// account block refused unchecked are not guesses evaluated. A check is
// counted before it is answered, so once the client has read the answer, the
// count includes it. Once maxCounted sources are counted, new sources are
// not.
func (s *Server) Checked(addr netip.Addr) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.checked[addr.Unmap()]
}

// CheckedAccount returns how many guesses at the password of the account
// name were evaluated, from any source, as Checked counts them. Once
// maxCounted names are counted, new names are not.
func (s *Server) CheckedAccount(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.checkedAccount[name]
}

// handle runs h wrapped so that the Guard judges the request, then counts
// it if it reached h.
func (s *Server) handle(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		reached := false
		s.filter.Wrap(func(req *sip.Request, tx sip.ServerTransaction) {
			reached = true
			h(req, tx)
		})(req, tx)
		addr, ok := source(req)
		if !ok || !reached {
			return
		}
		s.mu.Lock()
		s.handled.add(addr)
		s.mu.Unlock()
	}
}

// checkedPassword counts a password of account checked for req.
func (s *Server) checkedPassword(req *sip.Request, account string) {
	addr, ok := source(req)
	s.mu.Lock()
	defer s.mu.Unlock()
	if ok {
		s.checked.add(addr)
	}
	if _, ok := s.checkedAccount[account]; !ok {
		account = strings.Clone(account) // a new key must not hold the message
	}
	s.checkedAccount.add(account)
}

// source returns the address req came from.
func source(req *sip.Request) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

// register answers REGISTER: 401 to ask for credentials (stale=true when
// they are unproven), 403 for wrong ones, 200 for good ones. An account
// that does not exist is challenged and refused like a wrong password, so
// that no one learns which accounts exist; the Guard is told
// (sipgoban.MarkUnknownAccount) once the sender proved its address.
func (s *Server) register(req *sip.Request, tx sip.ServerTransaction) {
	var name string
	if to := req.To(); to != nil {
		name = to.Address.User
	}
	if h := req.GetHeader("Authorization"); h != nil {
		if u := sipgoban.Username(h.Value()); u != name {
			s.respond(req, tx, 403, "Forbidden", "account", name, "reason", "credentials for another account")
			return
		}
	}
	accounts := s.dir.accounts()
	password, exists := accounts.Password(name)
	r, err := s.auth.Authenticate(req, tx, func(user string) (string, bool) {
		// Username read the name above; this is the digest parser's reading.
		return password, exists && user == name
	})
	switch {
	case r.Verdict == sipauth.Unproven:
		s.challenged(req, r, err)
	case r.Unknown && !exists:
		sipgoban.MarkProven(tx)
		sipgoban.MarkUnknownAccount(tx)
		s.respond(req, tx, 403, "Forbidden", "account", name, "reason", "no such account", "deleted", accounts.Deleted[name])
	case r.Unknown:
		sipgoban.MarkProven(tx)
		s.respond(req, tx, 403, "Forbidden", "account", name, "reason", "credentials for another account")
	case r.Verdict == sipauth.Rejected:
		sipgoban.MarkProven(tx)
		s.checkedPassword(req, name)
		s.respond(req, tx, 403, "Forbidden", "account", name, "reason", "wrong password")
	case r.Verdict == sipauth.Accepted:
		sipgoban.MarkProven(tx)
		s.checkedPassword(req, name)
		res := sip.NewResponseFromRequest(req, 200, "OK", nil)
		for _, c := range req.GetHeaders("Contact") {
			res.AppendHeader(sip.HeaderClone(c))
		}
		expires := "3600"
		if e := req.GetHeader("Expires"); e != nil {
			if n, err := strconv.Atoi(e.Value()); err == nil && n >= 0 {
				expires = strconv.Itoa(n)
			}
		}
		res.AppendHeader(sip.NewHeader("Expires", expires))
		s.send(tx, res, "account", name)
	}
}

// invite answers INVITE: 407 to ask for credentials (stale=true when they
// are unproven), 403 for wrong ones or an unknown caller, 404 for an unknown
// callee, else 480: the registrar keeps no locations to route to.
func (s *Server) invite(req *sip.Request, tx sip.ServerTransaction) {
	// One snapshot for the caller and the callee, should a reload come between.
	accounts := s.dir.accounts()
	r, err := s.auth.Authenticate(req, tx, accounts.Password)
	if r.Verdict == sipauth.Unproven {
		s.challenged(req, r, err)
		return
	}
	sipgoban.MarkProven(tx)
	name := r.User
	if r.Unknown {
		// 403 rather than 404: a 404 to an INVITE speaks of the callee.
		sipgoban.MarkUnknownAccount(tx)
		s.respond(req, tx, 403, "Forbidden", "account", name, "reason", "no such account")
		return
	}
	s.checkedPassword(req, name)
	if r.Verdict == sipauth.Rejected {
		s.respond(req, tx, 403, "Forbidden", "account", name, "reason", "wrong password")
		return
	}
	if _, ok := accounts.Password(req.Recipient.User); !ok {
		s.respond(req, tx, 404, "Not Found", "account", name, "target", req.Recipient.User)
		return
	}
	s.respond(req, tx, 480, "Temporarily Unavailable", "account", name, "target", req.Recipient.User)
}

func (s *Server) options(req *sip.Request, tx sip.ServerTransaction) {
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	res.AppendHeader(sip.NewHeader("Allow", "REGISTER, INVITE, ACK, BYE, CANCEL, OPTIONS"))
	res.AppendHeader(sip.NewHeader("Accept", "application/sdp"))
	s.send(tx, res)
}

// noDialog answers BYE and unmatched CANCEL: the registrar holds no calls.
func noDialog(req *sip.Request, tx sip.ServerTransaction) {
	_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
}

func notAllowed(req *sip.Request, tx sip.ServerTransaction) {
	res := sip.NewResponseFromRequest(req, 405, "Method Not Allowed", nil)
	res.AppendHeader(sip.NewHeader("Allow", "REGISTER, INVITE, ACK, BYE, CANCEL, OPTIONS"))
	_ = tx.Respond(res)
}

// challenged logs the challenge Authenticate sent for req.
func (s *Server) challenged(req *sip.Request, r sipauth.Result, err error) {
	status := 407
	if req.Method == sip.REGISTER {
		status = 401
	}
	if err != nil {
		s.log.Warn("registrar: respond", "status", status, "error", err)
		return
	}
	if !s.log.Enabled(context.Background(), slog.LevelDebug) {
		return // a flood of challenges builds no log attributes
	}
	attrs := []any{"stale", r.Stale}
	if r.User != "" {
		attrs = append(attrs, "account", r.User)
	}
	if r.Invalid != nil {
		attrs = append(attrs, "reason", r.Invalid.Error())
	}
	s.answered(status, string(req.Method), req.Source(), attrs...)
}

func (s *Server) respond(req *sip.Request, tx sip.ServerTransaction, status int, reason string, attrs ...any) {
	s.send(tx, sip.NewResponseFromRequest(req, status, reason, nil), attrs...)
}

// send sends res and logs it at debug level with attrs.
func (s *Server) send(tx sip.ServerTransaction, res *sip.Response, attrs ...any) {
	if err := tx.Respond(res); err != nil {
		s.log.Warn("registrar: respond", "status", res.StatusCode, "error", err)
		return
	}
	s.answered(res.StatusCode, string(res.CSeq().MethodName), res.Destination(), attrs...)
}

// answered logs an answer at debug level with attrs.
func (s *Server) answered(status int, method, to string, attrs ...any) {
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		s.log.Debug("registrar: answered", append([]any{"status", status,
			"method", method, "to", to}, attrs...)...)
	}
}
