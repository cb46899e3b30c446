// Package registrar is a small digest-authenticating SIP registrar on sipgo,
// protected by a ban.Guard. It backs examples/registrar and the end-to-end
// tests, which attack it with ban/bantest and with sipp.
//
// It answers over UDP:
//
//	REGISTER  401 challenge · 403 wrong password, or unknown or deleted account · 200
//	INVITE    407 challenge · 403 wrong password or unknown caller · 404 unknown callee · 480
//	OPTIONS   200
//	BYE, unmatched CANCEL  481; other methods 405
//
// Digests are checked with package sipauth: MD5 with qop=auth and stateless
// nonces bound to the source address, so unanswered challenges cost no
// memory and a password is checked only for a sender that received the
// nonce; any other credentials get a fresh stale challenge. Every verdict is
// marked proven for the Guard. Server.Handled counts the requests that reach
// a handler per source address: a banned source's requests never do.
// Server.Checked and CheckedAccount count the passwords actually checked,
// the guesses an attacker had evaluated.
//
// The accounts come from a users file (see ParseUsers) and live in a
// Directory, which implements ban.Directory for the Guard's explanations.
// Server.Reload swaps in a file read again while the server runs, without a
// lock on the request path; the Directory dates each changed password and
// each deletion the file does not date itself at the reload.
package registrar
