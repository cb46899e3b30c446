// Package sipauth is SIP digest authentication (RFC 3261 22, RFC 2617) with
// stateless nonces bound to the source address, for servers that count
// failed logins against addresses.
//
// A UDP source address can be forged. A wrong password should count against
// an address only if the sender proved it receives the server's answers:
// its credentials are computed over a fresh nonce that was issued to that
// very address. So a nonce is its issue time and an HMAC-SHA-256 of that
// time and the source IP (not the port: NATs move ports), under a key, and
// Check looks at the nonce before the password:
//
//	Unproven  the nonce is not ours, was issued to another address, or expired;
//	          or the credentials are unusable. Send a new challenge with
//	          stale=true, and say nothing about the password.
//	Rejected  the sender is proven; the password is wrong (403).
//	Accepted  the sender is proven; the password is right.
//
// Nothing is stored per nonce, so a flood of challenges costs no memory. The
// price: nonce counts are not tracked, so a captured request can be replayed
// from the same address until its nonce expires (Options.Lifetime).
//
// Challenges offer MD5 with qop "auth"; credentials without qop (RFC 2069)
// are accepted too. Digest parsing, formatting and hashing are
// github.com/icholy/digest's.
//
// For a sipgo server, Authenticate does the whole exchange. Behind
// sipgoban.Wrap, tell the Guard when the sender was proven, before
// responding:
//
//	auth, err := sipauth.New(sipauth.Options{Realm: "example.com"})
//	...
//	srv.OnRegister(sipgoban.Wrap(g, func(req *sip.Request, tx sip.ServerTransaction) {
//		r, err := auth.Authenticate(req, tx, accounts.Password)
//		if err != nil {
//			log.Print(err) // the challenge was not sent
//		}
//		switch r.Verdict {
//		case sipauth.Unproven:
//			return // challenged
//		case sipauth.Rejected:
//			sipgoban.MarkProven(tx)
//			tx.Respond(sip.NewResponseFromRequest(req, 403, "Forbidden", nil))
//		case sipauth.Accepted:
//			sipgoban.MarkProven(tx)
//			tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
//		}
//	}))
//
// The caller checks that the credentials' username is the account the
// request is for (the To user of a REGISTER): Check and Authenticate prove a
// username's password, not the right to act for another account.
package sipauth
