package sipgoban

import (
	"context"
	"net/netip"
	"strings"
	"sync"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/detect"
)

// Wrap returns a handler that runs h and reports the transaction to g as one
// detect.Event: the request as received and the final status h sent (0 if
// none). The Guard judges it before the final response leaves, so a ban it
// decides is in place by the time the client reads the answer that caused
// it. h must send its final response before it returns, as sipgo expects.
// Requests for an account blocked at their source, and requests a guard
// refuses (not from a known device of a guarded address or account), are
// answered 403 Forbidden without calling h (an ACK is dropped); the Guard
// counts the latter as guesses when they are REGISTER, INVITE or carry
// credentials. Requests from a known scanner's
// User-Agent get no answer at all, so that the scan learns nothing; nor do
// requests from a banned source, which sipgo parsed before the ban (several
// read at once from a stream, or in flight when it came).
func Wrap(g *ban.Guard, h sipgo.RequestHandler) sipgo.RequestHandler { return wrap(NewFilter(g), h) }

func wrap(f *Filter, h sipgo.RequestHandler) sipgo.RequestHandler {
	g := f.g
	return func(req *sip.Request, tx sip.ServerTransaction) {
		ev := Event(req, 0)
		if g.Banned(ev.Source.Addr()) {
			return
		}
		if _, scanner := detect.ScannerAgent(ev.UserAgent); scanner {
			observe(g, &ev)
			return
		}
		switch g.Admit(ev.Source.Addr(), ev.Account, ev.UserAgent) {
		case ban.Blocked:
			f.blocked.Add(1)
			refuse(req, tx)
			return
		case ban.Guarded:
			// A guess at a guarded subject: refused unchecked, and counted
			// if a password could be tried with it; a stranger's BYE or
			// OPTIONS without credentials is refused alone.
			f.guarded.Add(1)
			if ev.Credentials || req.Method == sip.REGISTER || req.Method == sip.INVITE {
				ev.Status, ev.Guarded = 403, true
				observe(g, &ev)
			}
			refuse(req, tx)
			return
		}
		if req.IsAck() {
			h(req, tx) // ACK has no response and tells nothing on its own.
			return
		}
		w := &recorder{ServerTransaction: tx, g: g, ev: ev}
		h(req, w)
		if !req.IsCancel() {
			// No final response: the request went unanswered. (The
			// transaction layer answers CANCEL itself.)
			w.report(0, false)
		}
	}
}

// refuse answers req 403 Forbidden; an ACK has no answer.
func refuse(req *sip.Request, tx sip.ServerTransaction) {
	if !req.IsAck() {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 403, "Forbidden", nil))
	}
}

// recorder is the transaction a wrapped handler sees: it reports the
// transaction to the Guard once, on its final response.
type recorder struct {
	sip.ServerTransaction
	g        *ban.Guard
	mu       sync.Mutex
	ev       detect.Event
	unknown  bool
	proven   bool
	reported bool
}

func (r *recorder) Respond(res *sip.Response) error {
	if res.StatusCode >= 200 {
		r.report(res.StatusCode, staleChallenge(res))
	}
	return r.ServerTransaction.Respond(res)
}

// report gives the transaction to the Guard, the first time only.
func (r *recorder) report(status int, staleNonce bool) {
	r.mu.Lock()
	if r.reported {
		r.mu.Unlock()
		return
	}
	r.reported = true
	ev := r.ev
	ev.Status, ev.UnknownAccount = status, r.unknown
	ev.Proven = ev.Proven || r.proven
	if staleNonce {
		// A re-challenge for an expired nonce says nothing about the password.
		ev.Credentials = false
	}
	r.mu.Unlock()
	observe(r.g, &ev)
}

// observe gives ev to g. Its errors (a ban not fully applied, which still
// holds in memory; an event without a source) are ones a SIP handler cannot
// act on: the Guard logs them, at most once per interval with a count, and
// counts them in Stats.
func observe(g *ban.Guard, ev *detect.Event) {
	g.Observe(context.Background(), ev)
}

// staleChallenge reports whether res re-challenges because the nonce expired.
func staleChallenge(res *sip.Response) bool {
	if res.StatusCode != 401 && res.StatusCode != 407 {
		return false
	}
	for _, h := range res.Headers() {
		if n := h.Name(); strings.EqualFold(n, "WWW-Authenticate") || strings.EqualFold(n, "Proxy-Authenticate") {
			if v := param(h.Value(), "stale"); strings.EqualFold(v, "true") {
				return true
			}
		}
	}
	return false
}

// firstNamed returns the first of hs named name, in any case. sipgo's
// GetHeader lowers every header's name to compare, an allocation each for
// most of them, on every request.
func firstNamed(hs []sip.Header, name string) sip.Header {
	for _, h := range hs {
		if strings.EqualFold(h.Name(), name) {
			return h
		}
	}
	return nil
}

// MarkUnknownAccount tells the Guard that the request handled on tx was for an
// account that does not exist. Servers that answer such requests 404 need not
// call it; those that answer 403 (so as not to reveal which accounts exist)
// should, before they respond. It does nothing on a transaction Wrap did not
// provide.
func MarkUnknownAccount(tx sip.ServerTransaction) {
	if r, ok := tx.(*recorder); ok {
		r.mu.Lock()
		r.unknown = true
		r.mu.Unlock()
	}
}

// MarkProven tells the Guard that the credentials of the request handled on
// tx were computed over a fresh nonce the server issued to the request's
// source address (sipauth.Authenticator says so), whatever the password
// verdict: the sender receives the server's answers, so its address is not
// forged. Call it before responding. It does nothing on a transaction Wrap
// did not provide.
func MarkProven(tx sip.ServerTransaction) {
	if r, ok := tx.(*recorder); ok {
		r.mu.Lock()
		r.proven = true
		r.mu.Unlock()
	}
}

// Event builds the detect.Event for req answered with status. The source is
// the transport's remote address; the account is the Authorization username,
// else the To user for REGISTER and the From user otherwise.
func Event(req *sip.Request, status int) detect.Event {
	ev := detect.Event{
		Method:    string(req.Method),
		Status:    status,
		Transport: transport(req.Transport()),
	}
	// A connection's handshake proves its source address; a datagram does not.
	ev.Proven = ev.Transport != "udp" && ev.Transport != ""
	if ap, err := netip.ParseAddrPort(req.Source()); err == nil {
		ev.Source = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	hs := req.Headers()
	auth := firstNamed(hs, "Authorization")
	if auth == nil {
		auth = firstNamed(hs, "Proxy-Authorization")
	}
	if auth != nil {
		ev.Credentials = true
		ev.Account = Username(auth.Value())
	}
	if ev.Account == "" {
		if req.Method == sip.REGISTER {
			if to := req.To(); to != nil {
				ev.Account = to.Address.User
			}
		} else if from := req.From(); from != nil {
			ev.Account = from.Address.User
		}
	}
	ev.Target = req.Recipient.User
	if h := firstNamed(hs, "User-Agent"); h != nil {
		ev.UserAgent = h.Value()
	}
	if h := req.CallID(); h != nil {
		ev.CallID = h.Value()
	}
	if h := req.Contact(); h != nil {
		var b strings.Builder
		b.Grow(64) // one allocation for a usual URI, not one per growth
		h.Address.StringWrite(&b)
		ev.Contact = b.String()
		if v, ok := h.Params.Get("+sip.instance"); ok {
			ev.Instance = strings.Trim(v, `"`)
		}
	}
	return ev
}

// transport names tr in lower case, without allocating for the usual ones.
func transport(tr string) string {
	for _, t := range [...]string{"udp", "tcp", "tls", "ws", "wss", "sctp"} {
		if strings.EqualFold(tr, t) {
			return t
		}
	}
	return strings.ToLower(tr)
}

// Username returns the username parameter of a Digest credentials value, or "".
func Username(cred string) string { return param(cred, "username") }

// param returns the value of parameter name in a Digest header value, unquoted.
func param(v, name string) string {
	for rest := v; rest != ""; {
		i := indexFold(rest, name)
		if i < 0 {
			return ""
		}
		before := i == 0 || rest[i-1] == ' ' || rest[i-1] == ',' || rest[i-1] == '\t'
		rest = rest[i+len(name):]
		j := 0
		for j < len(rest) && (rest[j] == ' ' || rest[j] == '\t') {
			j++
		}
		if !before || j >= len(rest) || rest[j] != '=' {
			continue
		}
		rest = strings.TrimLeft(rest[j+1:], " \t")
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				return ""
			}
			return rest[1 : 1+end]
		}
		end := strings.IndexAny(rest, ", \t")
		if end < 0 {
			return rest
		}
		return rest[:end]
	}
	return ""
}

func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}

var _ sip.ServerTransaction = (*recorder)(nil)
