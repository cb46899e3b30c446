package loadtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync/atomic"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/sipgoban"
	"github.com/sipban/sipban/sipauth"
)

// Realm is the digest realm of the servers and clients here.
const Realm = "loadtest.sipban"

// Server is a sipgo REGISTER registrar over UDP with digest authentication
// (package sipauth), protected by a ban.Guard or not. The two differ only
// in sipban: the read filter on the transport and Wrap around the handler;
// the handler, its digest check and the sipgo options are the same. It is
// safe for concurrent use.
type Server struct {
	ua     *sipgo.UserAgent
	sip    *sipgo.Server
	failed atomic.Int64
}

// NewServer returns a registrar for the accounts in passwords (name to
// password), protected by g, or unprotected when g is nil. It starts
// nothing; the caller runs g.Run.
func NewServer(g *ban.Guard, passwords map[string]string) (*Server, error) {
	auth, err := sipauth.New(sipauth.Options{Realm: Realm})
	if err != nil {
		return nil, fmt.Errorf("loadtest: %w", err)
	}
	// Logging is off in both: a log line per message would measure slog.
	quiet := slog.New(slog.DiscardHandler)
	transport := []sip.TransportLayerOption{sip.WithTransportLayerLogger(quiet)}
	if g != nil {
		transport = append(transport, sipgoban.TransportOption(g))
	}
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent("sipban-loadtest"),
		sipgo.WithUserAgentTransportLayerOptions(transport...),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(quiet)),
	)
	if err != nil {
		return nil, fmt.Errorf("loadtest: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(quiet))
	if err != nil {
		ua.Close()
		return nil, fmt.Errorf("loadtest: %w", err)
	}
	s := &Server{ua: ua, sip: srv}
	h := Register(auth, passwords, &s.failed)
	if g != nil {
		h = sipgoban.Wrap(g, h)
	}
	srv.OnRegister(h)
	return s, nil
}

// Failed returns how many responses the handler could not send.
func (s *Server) Failed() int64 { return s.failed.Load() }

// Serve answers on conn until ctx is done, then closes conn and the
// server's UserAgent and returns ctx.Err(). A Server serves once.
func (s *Server) Serve(ctx context.Context, conn net.PacketConn) error {
	defer s.ua.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	err := s.sip.ServeUDP(conn)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	conn.Close()
	if err == nil {
		err = errors.New("connection closed")
	}
	return fmt.Errorf("loadtest: serve: %w", err)
}

// Register returns the REGISTER handler both servers run: a challenge (401)
// for a request without credentials or with unproven ones, 403 for a wrong
// password, an unknown account or credentials for another account, 200
// with the Contact and Expires for a good one. It marks proven senders for
// the Guard (sipgoban.MarkProven), which does nothing on an unwrapped
// transaction, so that both servers run the same code. It counts the
// responses it could not send in failed.
func Register(auth *sipauth.Authenticator, passwords map[string]string, failed *atomic.Int64) sipgo.RequestHandler {
	respond := func(tx sip.ServerTransaction, res *sip.Response) {
		if tx.Respond(res) != nil {
			failed.Add(1)
		}
	}
	return func(req *sip.Request, tx sip.ServerTransaction) {
		var account string
		if to := req.To(); to != nil {
			account = to.Address.User
		}
		r, err := auth.Authenticate(req, tx, func(user string) (string, bool) {
			pw, ok := passwords[user]
			return pw, ok && user == account // sipauth leaves this check to us
		})
		if err != nil {
			failed.Add(1) // the challenge could not be sent
			return
		}
		if r.Verdict == sipauth.Unproven {
			return // challenged
		}
		sipgoban.MarkProven(tx)
		if r.Verdict != sipauth.Accepted {
			if _, ok := passwords[account]; !ok {
				sipgoban.MarkUnknownAccount(tx)
			}
			respond(tx, sip.NewResponseFromRequest(req, 403, "Forbidden", nil))
			return
		}
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
		respond(tx, res)
	}
}
