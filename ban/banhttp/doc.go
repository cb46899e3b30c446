// Package banhttp serves a ban.Guard over HTTP: a JSON API for machines and
// a server-rendered self-service page for people, for operators and for
// customers scoped to their own records.
//
//	GET    /bans             a page of records, in subject order (?limit=, ?after=; Link rel="next")
//	GET    /bans/{subject}   one record, with its diagnosis
//	DELETE /bans/{subject}   lift it; a customer says what they fixed: ?fixed=credential-typo (a guard: ?fixed=new-device)
//	GET    /stats            operators: the Guard's counts and its state store's (pending, dropped, failed writes, failures not kept, last error)
//	GET    /ui/bans          the viewer's records, as a page
//	GET    /ui/bans/{subject}  one record: cause, devices with the suspect marked, advice, the unblock form
//	POST   /ui/bans/{subject}  the form: lift it
//
// Subjects are written as detect.Subject.String writes them ("203.0.113.7",
// "2001:db8::/64", "alice@203.0.113.7", "alice@*"), percent-encoded or not.
// Errors of the JSON API are {"error": "..."} with these statuses: 400 an
// unreadable subject, limit or fixed cause, or a customer's lift that does
// not say what was fixed (ban.ErrFixedMissing); 401 when Authorize refuses
// (under /ui/, a page in the reader's language);
// 403 an attack a customer may not lift (ban.ErrAttack), a Host not allowed,
// a cross-origin request or a form without its token; 404 no such record, or
// one the viewer does not own, so that existence does not leak; 429 a
// customer's self-service lifts used up (ban.ErrLiftLimit: only an operator
// can lift it now); 500 an enforcer that failed to follow a lift made in
// memory.
//
// # Who sees what
//
// Options.Authorize names the Viewer of each request: an operator sees and
// lifts every record; a customer sees only the records Viewer.Owns (for
// instance a Scope of prefixes and accounts) and lifts them as a customer
// (ban.Guard.LiftAs with Operator false), which ban limits and remembers.
// Where customers share an address, Viewer.Account names a customer's
// accounts: an address's record then lists only their devices, and one
// another's device caused says so instead of describing it.
// New refuses to build a Handler without Authorize unless
// Options.Unauthenticated asks for an operator API open to whoever reaches
// it, for a private address.
//
// # Browsers
//
// A Host header not in Options.Hosts is refused, so that a page on another
// site cannot reach the API through DNS rebinding. State changes refuse
// cross-origin browser requests (Sec-Fetch-Site, Origin). The API changes
// state only with DELETE, a method no page can send to another origin
// without a CORS preflight, which the Handler never grants; the form
// carries a token, an HMAC of the viewer and the subject under a
// per-Handler secret.
//
// # Languages
//
// ?lang=de, else Accept-Language (by q-value), chooses the language of the
// diagnosis (ban.Guard.Language) and of the page. The page's own strings
// come in English and German (Options.Texts adds or overrides a language).
// The page needs no JavaScript and loads nothing from elsewhere.
package banhttp
