package registrar

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"time"

	"github.com/icholy/digest"
)

// nonceLifetime is how long a nonce may be used. Phones answer a challenge
// within a second; some reuse the nonce for later requests. Nonce counts are
// not tracked, so a captured request can be replayed within this time.
const nonceLifetime = 5 * time.Minute

// nonces issues and checks digest nonces without keeping state, so that a
// flood of unanswered challenges costs no memory: a nonce is its issue time
// and random bytes, signed with a per-process key.
type nonces struct {
	key [32]byte
}

func newNonces() *nonces {
	n := new(nonces)
	rand.Read(n.key[:])
	return n
}

const (
	nonceData = 16 // issue time (8 bytes) + random (8 bytes)
	nonceMAC  = 16
)

// issue returns a fresh nonce stamped with now.
func (n *nonces) issue(now time.Time) string {
	var b [nonceData + nonceMAC]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixNano()))
	rand.Read(b[8:nonceData])
	copy(b[nonceData:], n.mac(b[:nonceData]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// valid reports whether s is a nonce n issued within nonceLifetime of now.
func (n *nonces) valid(s string, now time.Time) bool {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != nonceData+nonceMAC {
		return false
	}
	if !hmac.Equal(b[nonceData:], n.mac(b[:nonceData])) {
		return false
	}
	issued := time.Unix(0, int64(binary.BigEndian.Uint64(b[:8])))
	age := now.Sub(issued)
	return age >= -time.Second && age <= nonceLifetime
}

func (n *nonces) mac(data []byte) []byte {
	h := hmac.New(sha256.New, n.key[:])
	h.Write(data)
	return h.Sum(nil)[:nonceMAC]
}

// challenge returns a WWW-Authenticate or Proxy-Authenticate value.
func (n *nonces) challenge(realm string, now time.Time, stale bool) string {
	c := digest.Challenge{
		Realm:     realm,
		Nonce:     n.issue(now),
		Algorithm: "MD5",
		QOP:       []string{"auth"},
		Stale:     stale,
	}
	return c.String()
}

// verdict is the outcome of checking credentials.
type verdict int

const (
	// badCredentials: unreadable, for another realm, or a wrong response.
	badCredentials verdict = iota
	// staleNonce: the response proves the password, but over a nonce that
	// is not one of ours or too old; the client should retry with a fresh
	// challenge (stale=true).
	staleNonce
	// goodCredentials: the response proves the password over a fresh nonce.
	goodCredentials
)

// check verifies digest credentials cred for method against password. The
// response is checked before the nonce, so that a wrong password is always
// reported as such, whatever nonce it comes with.
func (n *nonces) check(cred *digest.Credentials, realm, method, password string, now time.Time) verdict {
	if cred.Realm != realm || cred.Response == "" {
		return badCredentials
	}
	if alg := strings.ToUpper(cred.Algorithm); alg != "" && alg != "MD5" {
		return badCredentials
	}
	if cred.QOP != "" && cred.QOP != "auth" {
		return badCredentials
	}
	chal := &digest.Challenge{Realm: realm, Nonce: cred.Nonce, Algorithm: "MD5"}
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
		return badCredentials
	}
	if subtle.ConstantTimeCompare([]byte(strings.ToLower(cred.Response)), []byte(want.Response)) != 1 {
		return badCredentials
	}
	if !n.valid(cred.Nonce, now) {
		return staleNonce
	}
	return goodCredentials
}
