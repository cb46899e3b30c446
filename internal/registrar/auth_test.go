package registrar

import (
	"strings"
	"testing"
	"time"

	"github.com/icholy/digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNonces(t *testing.T) {
	n := newNonces()
	t0 := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	good := n.issue(t0)
	assert.NotEqual(t, good, n.issue(t0), "nonces are random")
	tampered := []byte(good)
	tampered[3] ^= 1

	tests := []struct {
		name  string
		nonce string
		at    time.Time
		want  bool
	}{
		{"fresh", good, t0, true},
		{"within lifetime", good, t0.Add(nonceLifetime), true},
		{"expired", good, t0.Add(nonceLifetime + time.Second), false},
		{"from the future", good, t0.Add(-time.Minute), false},
		{"tampered", string(tampered), t0, false},
		{"another server's", newNonces().issue(t0), t0, false},
		{"not base64", "!!!", t0, false},
		{"empty", "", t0, false},
		{"short", good[:10], t0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, n.valid(tt.nonce, tt.at))
		})
	}
}

func TestCheck(t *testing.T) {
	n := newNonces()
	now := time.Now()
	chal, err := digest.ParseChallenge(n.challenge("realm", now, false))
	require.NoError(t, err)
	assert.Equal(t, []string{"auth"}, chal.QOP)
	assert.Equal(t, "MD5", chal.Algorithm)
	stale, err := digest.ParseChallenge(n.challenge("realm", now, true))
	require.NoError(t, err)
	assert.True(t, stale.Stale)

	answer := func(c *digest.Challenge, password string, edit func(*digest.Credentials)) *digest.Credentials {
		t.Helper()
		cred, err := digest.Digest(c, digest.Options{Method: "REGISTER", URI: "sip:example", Username: "alice", Password: password})
		require.NoError(t, err)
		if edit != nil {
			edit(cred)
		}
		// Through the header form, as the server reads it.
		cred, err = digest.ParseCredentials(cred.String())
		require.NoError(t, err)
		return cred
	}
	noQOP := *chal
	noQOP.QOP = nil
	forged := *chal
	forged.Nonce = "forged"
	tests := []struct {
		name string
		cred *digest.Credentials
		want verdict
	}{
		{"good", answer(chal, "pw", nil), goodCredentials},
		{"good without qop", answer(&noQOP, "pw", nil), goodCredentials},
		{"upper-case response", answer(chal, "pw", func(c *digest.Credentials) { c.Response = strings.ToUpper(c.Response) }), goodCredentials},
		{"wrong password", answer(chal, "wrong", nil), badCredentials},
		{"other realm", answer(chal, "pw", func(c *digest.Credentials) { c.Realm = "other" }), badCredentials},
		{"other method signed", answer(chal, "pw", func(c *digest.Credentials) { c.Cnonce, c.Response = "fixed", answerFor(t, chal, "INVITE") }), badCredentials},
		{"SHA-256", answer(chal, "pw", func(c *digest.Credentials) { c.Algorithm = "SHA-256" }), badCredentials},
		{"auth-int", answer(chal, "pw", func(c *digest.Credentials) { c.QOP = "auth-int" }), badCredentials},
		{"no response", answer(chal, "pw", func(c *digest.Credentials) { c.Response = "" }), badCredentials},
		{"forged nonce", answer(&forged, "pw", nil), staleNonce},
		{"forged nonce, wrong password", answer(&forged, "wrong", nil), badCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, n.check(tt.cred, "realm", "REGISTER", "pw", now))
		})
	}
	t.Run("expired nonce", func(t *testing.T) {
		later := now.Add(time.Hour)
		assert.Equal(t, staleNonce, n.check(answer(chal, "pw", nil), "realm", "REGISTER", "pw", later))
		assert.Equal(t, badCredentials, n.check(answer(chal, "wrong", nil), "realm", "REGISTER", "pw", later))
	})
}

func answerFor(t *testing.T, c *digest.Challenge, method string) string {
	t.Helper()
	cred, err := digest.Digest(c, digest.Options{Method: method, URI: "sip:example", Username: "alice", Password: "pw", Cnonce: "fixed"})
	require.NoError(t, err)
	return cred.Response
}
