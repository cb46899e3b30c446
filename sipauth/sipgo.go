package sipauth

import (
	"fmt"
	"net/netip"

	"github.com/emiago/sipgo/sip"
)

// Result is what Authenticate found, and did, with a request.
type Result struct {
	// Verdict is Unproven when Authenticate answered the request with a
	// challenge: it carried no credentials, or Check found them Unproven.
	// Otherwise the sender is proven and the caller sends the final
	// response: Rejected (wrong password or Unknown account), or Accepted.
	Verdict Verdict
	// User is the username of the credentials, "" when there were none.
	User string
	// Unknown reports that the password lookup found no account for User;
	// Verdict is then Rejected. An unproven request is challenged whether its
	// account exists or not, so an unproven sender learns nothing of accounts.
	Unknown bool
	// Stale reports that the challenge sent had stale=true: credentials came
	// but were Unproven.
	Stale bool
	// Invalid, when not nil, says why the credentials could not be checked
	// at all; it wraps ErrCredentials, and Stale is set.
	Invalid error
}

// Authenticate does the digest exchange for a request received by a sipgo
// server. A REGISTER is authenticated by its Authorization header and
// challenged with 401 and WWW-Authenticate; any other method by
// Proxy-Authorization, with 407 and Proxy-Authenticate. A request without
// credentials is challenged; one whose credentials are Unproven is
// challenged again with stale=true. Otherwise password is asked for the
// username's password (ok false: no such account) and the request is
// checked, and the caller sends the final response (200, 403, 404 ...).
// The error is not nil only when a challenge could not be sent; the Result
// still says what was found.
//
// Result.Verdict Rejected or Accepted means the source address is proven:
// behind sipgoban.Wrap, call sipgoban.MarkProven(tx) before responding, so
// that the Guard counts a failure against the address, and trusts a
// success from it.
//
// The source address is the transport's (req.MessageData.Source), never Via:
// a request not received from a transport is never proven.
func (a *Authenticator) Authenticate(req *sip.Request, tx sip.ServerTransaction, password func(user string) (string, bool)) (Result, error) {
	src := source(req)
	h := req.GetHeader(credentialsHeader(req.Method))
	if h == nil {
		return Result{}, a.challenge(req, tx, src, false)
	}
	cred, err := a.parse(h.Value())
	if err != nil {
		return Result{Stale: true, Invalid: err}, a.challenge(req, tx, src, true)
	}
	if !a.fresh(cred.Nonce, src, a.now()) {
		return Result{User: cred.Username, Stale: true}, a.challenge(req, tx, src, true)
	}
	pw, ok := password(cred.Username)
	if !ok {
		return Result{Verdict: Rejected, User: cred.Username, Unknown: true}, nil
	}
	return Result{Verdict: a.verify(cred, string(req.Method), pw), User: cred.Username}, nil
}

// credentialsHeader returns the header with the credentials for method:
// a registrar authenticates REGISTER (RFC 3261 22.2), a proxy the rest
// (22.3).
func credentialsHeader(method sip.RequestMethod) string {
	if method == sip.REGISTER {
		return "Authorization"
	}
	return "Proxy-Authorization"
}

// challenge answers req with a challenge for src.
func (a *Authenticator) challenge(req *sip.Request, tx sip.ServerTransaction, src netip.Addr, stale bool) error {
	status, reason, header := 407, "Proxy Authentication Required", "Proxy-Authenticate"
	if req.Method == sip.REGISTER {
		status, reason, header = 401, "Unauthorized", "WWW-Authenticate"
	}
	res := sip.NewResponseFromRequest(req, status, reason, nil)
	res.AppendHeader(sip.NewHeader(header, a.Challenge(src, stale)))
	if err := tx.Respond(res); err != nil {
		return fmt.Errorf("sipauth: respond %d: %w", status, err)
	}
	return nil
}

// source returns the transport's remote address of req, or the zero Addr.
func source(req *sip.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(req.MessageData.Source())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr()
}
