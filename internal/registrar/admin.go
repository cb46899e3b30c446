package registrar

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"net/netip"
	"slices"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/banhttp"
	"github.com/sipban/sipban/detect"
)

// AdminHandler returns the operator's API and pages over g (see package
// banhttp), open to whoever reaches it: serve it on a private address only.
//
//	GET    /bans            a page of active records (bans, account blocks, guards), in subject order
//	GET    /bans/{subject}  one record; 404 if there is none
//	DELETE /bans/{subject}  lift it; 204, or 404 if there is none
//	GET    /ui/bans         the same as pages, with an unblock form
//
// GET /bans takes ?limit=N (default 1000, at most 10000) and ?after=SUBJECT,
// the last subject of the page before; when more follow, a Link header
// (rel="next") names the next page. Only Host headers naming localhost or
// an address are served (DNS rebinding).
func AdminHandler(g *ban.Guard) http.Handler {
	h, err := banhttp.New(g, banhttp.Options{Unauthenticated: true})
	if err != nil {
		panic(err) // New refuses only a nil Guard or no Authorize; neither here
	}
	return h
}

// errLogin is the answer to a portal request without good credentials.
var errLogin = errors.New("log in with your SIP account and password")

// PortalHandler returns the customers' self-service API and pages over g:
// a customer logs in with HTTP Basic authentication as one of dir's SIP
// accounts, and sees and lifts the records of that account (blocked at an
// address, or guarded) and the records of the addresses where a device
// logged in that used it in the last day. Logins are logins to g as over
// SIP: wrong passwords ban the browser's address, or guard it, as guesses
// do, and the browser is listed among the devices at its address. Serve it
// over TLS where it leaves the host.
func PortalHandler(g *ban.Guard, dir *Directory) (http.Handler, error) {
	return banhttp.New(g, banhttp.Options{
		Authorize: func(r *http.Request) (banhttp.Viewer, error) { return login(g, dir, r) },
		Challenge: `Basic realm="sipban", charset="UTF-8"`,
	})
}

// maxAgent bounds the browser's User-Agent the portal reports to g.
const maxAgent = 100

// login checks r's Basic credentials against dir and returns the customer
// they name. Each check is a login to g, as a REGISTER over SIP would be,
// from the client's address with port 0 (one device per browser, however
// many connections it opens) and its User-Agent: failures count as
// guesses, and successes make the browser a known device, which a guard
// on the address, or on the account, keeps serving.
func login(g *ban.Guard, dir *Directory, r *http.Request) (banhttp.Viewer, error) {
	user, pass, ok := r.BasicAuth()
	if !ok || user == "" {
		return banhttp.Viewer{}, errLogin
	}
	src, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return banhttp.Viewer{}, errLogin
	}
	addr := src.Addr().Unmap()
	agent := "portal: " + r.UserAgent()
	if len(agent) > maxAgent {
		agent = agent[:maxAgent]
	}
	if g.Banned(addr) || g.Admit(addr, user, agent) != ban.Admitted {
		return banhttp.Viewer{}, errLogin // refused unchecked, as over SIP
	}
	want, exists := dir.accounts().Password(user)
	good := exists && subtle.ConstantTimeCompare([]byte(pass), []byte(want)) == 1
	// An unknown account is refused as a wrong password is, as over SIP.
	ev := detect.Event{Source: netip.AddrPortFrom(addr, 0), Transport: "tcp", Method: "REGISTER", Account: user,
		Credentials: true, Proven: true, UnknownAccount: !exists, Status: http.StatusOK, UserAgent: agent}
	if !good {
		ev.Status = http.StatusForbidden
	}
	// The Guard logs what it cannot judge or enforce; the answer is the same.
	_ = g.Observe(r.Context(), &ev)
	if !good {
		return banhttp.Viewer{}, errLogin
	}
	v := banhttp.Customer(user, owns(user))
	// Each account is a customer of its own: at an address shared with
	// others, another's devices and what they caused stay theirs.
	v.Account = func(a string) bool { return a == user }
	return v, nil
}

// owns reports the records of account's customer: the account's own, a
// block of an account name that is likely a typo of it, and those of an
// address where a device that used it logged in. Another account's block
// is not theirs even there: its subject names the account.
func owns(account string) func(*ban.Record) bool {
	return func(r *ban.Record) bool {
		if r.Subject.Account != "" {
			return r.Subject.Account == account || r.Diagnosis.DidYouMean == account
		}
		for _, d := range r.Diagnosis.Devices {
			if d.Successes > 0 && slices.Contains(d.Accounts, account) {
				return true
			}
		}
		return false
	}
}
