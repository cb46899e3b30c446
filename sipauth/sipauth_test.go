package sipauth_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/icholy/digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/sipauth"
)

var (
	t0    = time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)
	key   = []byte("0123456789abcdef0123456789abcdef")
	phone = netip.MustParseAddr("192.0.2.10")
	other = netip.MustParseAddr("192.0.2.11")
)

// clock is a settable Options.Now.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

// newAuth returns an Authenticator for realm "example.com" with a fixed key
// and the clock c.
func newAuth(t testing.TB, c *clock) *sipauth.Authenticator {
	t.Helper()
	a, err := sipauth.New(sipauth.Options{Realm: "example.com", Key: key, Now: c.Now})
	require.NoError(t, err)
	return a
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		opts    sipauth.Options
		wantErr string
	}{
		{"random key", sipauth.Options{Realm: "example.com"}, ""},
		{"16-byte key", sipauth.Options{Realm: "example.com", Key: key[:16]}, ""},
		{"empty realm", sipauth.Options{}, "sipauth: Options.Realm is empty"},
		{"quote in realm", sipauth.Options{Realm: `a"b`}, "sipauth: Options.Realm"},
		{"newline in realm", sipauth.Options{Realm: "a\r\nb"}, "sipauth: Options.Realm"},
		{"short key", sipauth.Options{Realm: "example.com", Key: key[:15]}, "sipauth: Options.Key has 15 bytes, want at least 16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := sipauth.New(tt.opts)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.opts.Realm, a.Realm())
		})
	}
}

func TestChallenge(t *testing.T) {
	c := &clock{t0}
	a := newAuth(t, c)
	chal, err := digest.ParseChallenge(a.Challenge(phone, false))
	require.NoError(t, err)
	assert.Equal(t, "example.com", chal.Realm)
	assert.Equal(t, "MD5", chal.Algorithm)
	assert.Equal(t, []string{"auth"}, chal.QOP)
	assert.False(t, chal.Stale)
	assert.Len(t, chal.Nonce, 32)

	stale, err := digest.ParseChallenge(a.Challenge(phone, true))
	require.NoError(t, err)
	assert.True(t, stale.Stale)
	assert.Equal(t, chal.Nonce, stale.Nonce, "one address, one instant: one nonce")
	assert.NotEqual(t, chal.Nonce, nonce(t, a.Challenge(other, false)), "bound to the address")
	c.t = c.t.Add(time.Nanosecond)
	assert.NotEqual(t, chal.Nonce, nonce(t, a.Challenge(phone, false)), "stamped with the time")
}

func nonce(t *testing.T, challenge string) string {
	t.Helper()
	chal, err := digest.ParseChallenge(challenge)
	require.NoError(t, err)
	return chal.Nonce
}

// client answers challenges as a phone would, with icholy/digest.
type client struct {
	from     netip.Addr // where the challenge was sent; zero means phone
	method   string
	user     string
	password string
	noQOP    bool // an RFC 2069 client
	count    int
	cnonce   string
	edit     func(*digest.Credentials)
}

// answer returns the credentials c sends in answer to a's challenge.
func (c client) answer(t *testing.T, a *sipauth.Authenticator) string {
	t.Helper()
	if !c.from.IsValid() {
		c.from = phone
	}
	chal, err := digest.ParseChallenge(a.Challenge(c.from, false))
	require.NoError(t, err)
	if c.noQOP {
		chal.QOP = nil
	}
	method, user, password := c.method, c.user, c.password
	if method == "" {
		method = "REGISTER"
	}
	if user == "" {
		user = "alice"
	}
	if password == "" {
		password = "alice-secret"
	}
	cred, err := digest.Digest(chal, digest.Options{Method: method, URI: "sip:example.com",
		Username: user, Password: password, Count: c.count, Cnonce: c.cnonce})
	require.NoError(t, err)
	if c.edit != nil {
		c.edit(cred)
	}
	return cred.String()
}

func TestCheck(t *testing.T) {
	c := &clock{t0}
	a := newAuth(t, c)
	otherKey, err := sipauth.New(sipauth.Options{Realm: "example.com", Key: []byte("another key, 16+ bytes")})
	require.NoError(t, err)
	fromOtherKey, err := digest.Digest(mustChallenge(t, otherKey.Challenge(phone, false)),
		digest.Options{Method: "REGISTER", URI: "sip:example.com", Username: "alice", Password: "alice-secret"})
	require.NoError(t, err)

	tests := []struct {
		name    string
		cred    client
		raw     string        // credentials as sent, instead of cred's answer
		src     netip.Addr    // the request's source; zero means phone
		after   time.Duration // between challenge and request
		want    sipauth.Verdict
		wantErr bool
	}{
		{name: "good password", want: sipauth.Accepted},
		{name: "wrong password", cred: client{password: "guess"}, want: sipauth.Rejected},
		{name: "qop auth, nc 5, own cnonce", cred: client{count: 5, cnonce: "0a4f113b"}, want: sipauth.Accepted},
		{name: "no qop (RFC 2069)", cred: client{noQOP: true}, want: sipauth.Accepted},
		{name: "no qop, wrong password", cred: client{noQOP: true, password: "guess"}, want: sipauth.Rejected},
		{name: "upper-case response", cred: client{edit: func(c *digest.Credentials) { c.Response = strings.ToUpper(c.Response) }}, want: sipauth.Accepted},
		{name: "signed for another method", cred: client{method: "INVITE"}, want: sipauth.Rejected},
		{name: "another user's own password", cred: client{user: "bob", password: "bob-secret"}, want: sipauth.Rejected},
		{name: "nonce for another address", cred: client{from: other}, want: sipauth.Unproven},
		{name: "nonce for another address, wrong password", cred: client{from: other, password: "guess"}, want: sipauth.Unproven},
		{name: "IPv4-mapped source", src: netip.MustParseAddr("::ffff:192.0.2.10"), want: sipauth.Accepted},
		{name: "zone dropped", cred: client{from: netip.MustParseAddr("fe80::1%eth0")}, src: netip.MustParseAddr("fe80::1%eth1"), want: sipauth.Accepted},
		{name: "at the end of its lifetime", after: sipauth.DefaultLifetime, want: sipauth.Accepted},
		{name: "expired", after: sipauth.DefaultLifetime + time.Nanosecond, want: sipauth.Unproven},
		{name: "expired, wrong password", cred: client{password: "guess"}, after: time.Hour, want: sipauth.Unproven},
		{name: "from the future", after: -2 * time.Second, want: sipauth.Unproven},
		{name: "tampered nonce", cred: client{edit: func(c *digest.Credentials) { c.Nonce = flip(c.Nonce) }}, want: sipauth.Unproven},
		{name: "nonce not base64", cred: client{edit: func(c *digest.Credentials) { c.Nonce = strings.Repeat("!", len(c.Nonce)) }}, want: sipauth.Unproven},
		{name: "forged nonce", cred: client{edit: func(c *digest.Credentials) { c.Nonce = "forged" }}, want: sipauth.Unproven},
		{name: "another key's nonce", raw: fromOtherKey.String(), want: sipauth.Unproven},
		{name: "wrong realm", cred: client{edit: func(c *digest.Credentials) { c.Realm = "other.example" }}, want: sipauth.Unproven, wantErr: true},
		{name: "SHA-256", cred: client{edit: func(c *digest.Credentials) { c.Algorithm = "SHA-256" }}, want: sipauth.Unproven, wantErr: true},
		{name: "auth-int", cred: client{edit: func(c *digest.Credentials) { c.QOP = "auth-int" }}, want: sipauth.Unproven, wantErr: true},
		{name: "qop auth without cnonce", cred: client{edit: func(c *digest.Credentials) { c.Cnonce = "" }}, want: sipauth.Unproven, wantErr: true},
		{name: "userhash", cred: client{edit: func(c *digest.Credentials) { c.Userhash = true }}, want: sipauth.Unproven, wantErr: true},
		{name: "no response", cred: client{edit: func(c *digest.Credentials) { c.Response = "" }}, want: sipauth.Unproven, wantErr: true},
		{name: "Basic", raw: "Basic YWxpY2U6YWxpY2Utc2VjcmV0", want: sipauth.Unproven, wantErr: true},
		{name: "garbled", raw: `Digest username="alice, realm=`, want: sipauth.Unproven, wantErr: true},
		{name: "no parameters", raw: "Digest ", want: sipauth.Unproven, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t0
			raw := tt.raw
			if raw == "" {
				raw = tt.cred.answer(t, a)
			}
			src := tt.src
			if !src.IsValid() {
				src = phone
			}
			c.t = t0.Add(tt.after)
			got, err := a.Check(src, "REGISTER", raw, "alice-secret")
			assert.Equal(t, tt.want, got)
			if tt.wantErr {
				assert.ErrorIs(t, err, sipauth.ErrCredentials)
				assert.ErrorContains(t, err, "sipauth: ")
			} else {
				assert.NoError(t, err)
			}
		})
	}
}

// TestNoSource: a request whose source is unknown is never proven, not even
// by a nonce issued to the unknown source.
func TestNoSource(t *testing.T) {
	a := newAuth(t, &clock{t0})
	chal := mustChallenge(t, a.Challenge(netip.Addr{}, false))
	cred, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: "sip:example.com", Username: "alice", Password: "alice-secret"})
	require.NoError(t, err)
	for _, src := range []netip.Addr{{}, netip.IPv6Unspecified(), netip.IPv4Unspecified()} {
		v, err := a.Check(src, "REGISTER", cred.String(), "alice-secret")
		require.NoError(t, err)
		assert.Equal(t, sipauth.Unproven, v, "from %v", src)
	}
	v, err := a.Check(netip.Addr{}, "REGISTER", "", "alice-secret")
	assert.ErrorIs(t, err, sipauth.ErrCredentials)
	assert.Equal(t, sipauth.Unproven, v)
}

func mustChallenge(t *testing.T, s string) *digest.Challenge {
	t.Helper()
	chal, err := digest.ParseChallenge(s)
	require.NoError(t, err)
	return chal
}

// flip changes the first character of s to another base64 character.
func flip(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

func TestLifetime(t *testing.T) {
	c := &clock{t0}
	a, err := sipauth.New(sipauth.Options{Realm: "example.com", Lifetime: time.Second, Now: c.Now})
	require.NoError(t, err)
	cred := client{from: phone}.answer(t, a)
	c.t = t0.Add(time.Second)
	v, err := a.Check(phone, "REGISTER", cred, "alice-secret")
	require.NoError(t, err)
	assert.Equal(t, sipauth.Accepted, v)
	c.t = c.t.Add(time.Nanosecond)
	v, err = a.Check(phone, "REGISTER", cred, "alice-secret")
	require.NoError(t, err)
	assert.Equal(t, sipauth.Unproven, v)
}

func TestSharedKey(t *testing.T) {
	c := &clock{t0}
	a, b := newAuth(t, c), newAuth(t, c)
	v, err := b.Check(phone, "REGISTER", client{from: phone}.answer(t, a), "alice-secret")
	require.NoError(t, err)
	assert.Equal(t, sipauth.Accepted, v, "servers sharing a key accept each other's nonces")
}

func TestVerdictString(t *testing.T) {
	for v, want := range map[sipauth.Verdict]string{
		sipauth.Unproven: "unproven", sipauth.Rejected: "rejected", sipauth.Accepted: "accepted",
		sipauth.Verdict(7): "Verdict(7)", sipauth.Verdict(-1): "Verdict(-1)",
	} {
		assert.Equal(t, want, v.String())
	}
}
