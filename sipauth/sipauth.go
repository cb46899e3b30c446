package sipauth

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/icholy/digest"
)

// DefaultLifetime is how long a nonce is accepted when Options.Lifetime is
// zero. Phones answer a challenge within a second, but many reuse the nonce
// for the re-registrations and calls that follow.
const DefaultLifetime = 5 * time.Minute

// MinKeyLen is the shortest Options.Key New accepts.
const MinKeyLen = 16

// ErrCredentials is wrapped by the errors Check returns for credentials it
// cannot check at all: unreadable, for another realm, or with an algorithm
// or qop that was not offered.
var ErrCredentials = errors.New("sipauth: unusable credentials")

// Options configures an Authenticator.
type Options struct {
	// Realm is the protection space, shown to users and hashed into their
	// credentials. Required: a default would give unrelated servers the
	// same space. It may not hold quotes, backslashes or control characters.
	Realm string
	// Key signs the nonces. Servers that share a key (and a realm) accept
	// one another's nonces, and a restart with the same key keeps the
	// nonces already issued valid. Empty means 32 random bytes, drawn by
	// New; otherwise it must have at least MinKeyLen bytes. New copies it.
	Key []byte
	// Lifetime is how long after its issue a nonce is accepted; zero means
	// DefaultLifetime.
	Lifetime time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Authenticator issues digest challenges and checks the credentials that
// answer them. It keeps no state per nonce or per client. It is safe for
// concurrent use.
type Authenticator struct {
	realm    string
	lifetime time.Duration
	now      func() time.Time
	signers  sync.Pool // *signer, keyed with Options.Key
}

// New returns an Authenticator configured by opts.
func New(opts Options) (*Authenticator, error) {
	if opts.Realm == "" {
		return nil, errors.New("sipauth: Options.Realm is empty")
	}
	if strings.ContainsFunc(opts.Realm, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '"' || r == '\\' }) {
		return nil, fmt.Errorf("sipauth: Options.Realm %q has a quote, backslash or control character", opts.Realm)
	}
	key := make([]byte, 32)
	switch {
	case len(opts.Key) == 0:
		rand.Read(key)
	case len(opts.Key) < MinKeyLen:
		return nil, fmt.Errorf("sipauth: Options.Key has %d bytes, want at least %d", len(opts.Key), MinKeyLen)
	default:
		key = append([]byte(nil), opts.Key...)
	}
	a := &Authenticator{realm: opts.Realm, lifetime: opts.Lifetime, now: opts.Now}
	if a.lifetime <= 0 {
		a.lifetime = DefaultLifetime
	}
	if a.now == nil {
		a.now = time.Now
	}
	a.signers.New = func() any { return newSigner(key) }
	return a, nil
}

// Realm returns the realm of the challenges a issues.
func (a *Authenticator) Realm() string { return a.realm }

// Challenge returns a fresh challenge for src, the value of a
// WWW-Authenticate (with 401) or Proxy-Authenticate (with 407) header: MD5,
// qop "auth", and a nonce that only src can answer. Set stale when the
// request being answered carried credentials that Check found Unproven: it
// tells the client to retry with the new nonce without asking its user.
func (a *Authenticator) Challenge(src netip.Addr, stale bool) string {
	c := digest.Challenge{
		Realm:     a.realm,
		Nonce:     a.issue(a.now(), src),
		Algorithm: "MD5",
		QOP:       []string{"auth"},
		Stale:     stale,
	}
	return c.String()
}

// Verdict is the outcome of checking credentials.
type Verdict int

const (
	// Unproven: the credentials are not computed over a fresh nonce this
	// Authenticator issued to the request's source address (not ours, for
	// another address, expired, or unusable), so the source may be forged.
	// Nothing is known about the password, and nothing may be said about it:
	// answer with a new Challenge, stale set.
	Unproven Verdict = iota
	// Rejected: the nonce is fresh and was issued to the source, so the
	// sender receives our answers; the password is wrong.
	Rejected
	// Accepted: the nonce is fresh and was issued to the source, and the
	// response proves the password.
	Accepted
)

var verdictNames = [...]string{Unproven: "unproven", Rejected: "rejected", Accepted: "accepted"}

// String returns the verdict's name in lower case, such as "rejected".
func (v Verdict) String() string {
	if v >= 0 && int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return fmt.Sprintf("Verdict(%d)", int(v))
}

// Check checks the Digest credentials (an Authorization or
// Proxy-Authorization value) of a request of method from src against
// password. It reads the credentials first, then checks the nonce, and only
// then the password, so that an Unproven request gets no answer about its
// password.
//
// The error is non-nil, wrapping ErrCredentials, only with Unproven, and says
// why the credentials could not be checked at all; an expired or foreign
// nonce is Unproven with a nil error.
//
// Check does not compare the username with the account the request is for
// (the To user of a REGISTER, say), nor the digest URI with the
// Request-URI: that is the caller's business. It does not count nonce uses,
// so a captured request can be replayed from the same address until the
// nonce expires.
func (a *Authenticator) Check(src netip.Addr, method, credentials, password string) (Verdict, error) {
	cred, err := a.parse(credentials)
	if err != nil {
		return Unproven, err
	}
	if !a.fresh(cred.Nonce, src, a.now()) {
		return Unproven, nil
	}
	return a.verify(cred, method, password), nil
}

// parse reads credentials and checks they answer a challenge of ours.
func (a *Authenticator) parse(credentials string) (*digest.Credentials, error) {
	cred, err := digest.ParseCredentials(credentials)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrCredentials, err)
	case cred.Realm != a.realm:
		return nil, fmt.Errorf("%w: realm %q, want %q", ErrCredentials, cred.Realm, a.realm)
	case cred.Algorithm != "" && !strings.EqualFold(cred.Algorithm, "MD5"):
		return nil, fmt.Errorf("%w: algorithm %q, want MD5", ErrCredentials, cred.Algorithm)
	case cred.Userhash:
		return nil, fmt.Errorf("%w: userhash was not offered", ErrCredentials)
	case cred.Response == "":
		return nil, fmt.Errorf("%w: no response", ErrCredentials)
	}
	switch cred.QOP {
	case "":
		// RFC 2069 clients, which ignore qop; RFC 3261 22.4 allows them.
	case "auth":
		if cred.Cnonce == "" || cred.Nc <= 0 {
			return nil, fmt.Errorf("%w: qop auth without cnonce and nc", ErrCredentials)
		}
	default:
		return nil, fmt.Errorf("%w: qop %q, want auth", ErrCredentials, cred.QOP)
	}
	return cred, nil
}

// verify reports whether cred, read by parse over a fresh nonce, proves
// password.
func (a *Authenticator) verify(cred *digest.Credentials, method, password string) Verdict {
	chal := &digest.Challenge{Realm: a.realm, Nonce: cred.Nonce, Algorithm: "MD5"}
	if cred.QOP != "" {
		chal.QOP = []string{cred.QOP}
	}
	want, err := digest.Digest(chal, digest.Options{
		Method:   method,
		URI:      cred.URI,
		Username: cred.Username,
		Password: password,
		Cnonce:   cred.Cnonce,
		Count:    cred.Nc,
	})
	if err != nil {
		// Not reached: parse admits only what Digest computes.
		return Rejected
	}
	if subtle.ConstantTimeCompare([]byte(strings.ToLower(cred.Response)), []byte(want.Response)) != 1 {
		return Rejected
	}
	return Accepted
}
