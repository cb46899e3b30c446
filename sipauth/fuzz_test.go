package sipauth_test

import (
	"bufio"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/icholy/digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/sipauth"
)

// seed is a line of testdata/credentials.txt.
type seed struct {
	verdict, method, cred string
}

func seeds(t testing.TB) []seed {
	t.Helper()
	f, err := os.Open("testdata/credentials.txt")
	require.NoError(t, err)
	defer f.Close()
	var ss []seed
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.SplitN(line, " ", 3)
		require.Len(t, f, 3, "line %q", line)
		ss = append(ss, seed{f[0], f[1], f[2]})
	}
	require.NoError(t, sc.Err())
	require.NotEmpty(t, ss)
	return ss
}

var loopback = netip.MustParseAddr("127.0.0.1")

// TestSeeds checks the credentials real clients sent, and so that nonces
// keep their format: servers sharing a key must read each other's.
func TestSeeds(t *testing.T) {
	a := newAuth(t, &clock{t0})
	for _, s := range seeds(t) {
		v, _ := a.Check(loopback, s.method, s.cred, "alice-secret")
		assert.Equal(t, s.verdict, v.String(), "%s %s", s.method, s.cred)
	}
}

// md5Response computes the response to a challenge of realm "example.com"
// the long way, as RFC 2617 3.2.2 says, to check Check by another route.
func md5Response(c *digest.Credentials, method, password string) string {
	h := func(parts ...string) string {
		sum := md5.Sum([]byte(strings.Join(parts, ":")))
		return hex.EncodeToString(sum[:])
	}
	ha1, ha2 := h(c.Username, "example.com", password), h(method, c.URI)
	if c.QOP == "" {
		return h(ha1, c.Nonce, ha2)
	}
	return h(ha1, c.Nonce, fmt.Sprintf("%08x", c.Nc), c.Cnonce, c.QOP, ha2)
}

func FuzzCheck(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s.method, s.cred)
	}
	a := newAuth(f, &clock{t0})
	late := newAuth(f, &clock{t0.Add(sipauth.DefaultLifetime + 1)})
	stranger := netip.MustParseAddr("192.0.2.99") // no nonce in the seeds was issued to it
	f.Fuzz(func(t *testing.T, method, cred string) {
		v, err := a.Check(loopback, method, cred, "alice-secret")
		again, errAgain := a.Check(loopback, method, cred, "alice-secret")
		require.Equal(t, v, again, "deterministic")
		require.Equal(t, fmt.Sprint(err), fmt.Sprint(errAgain), "deterministic")
		if err != nil {
			require.Equal(t, sipauth.Unproven, v, "an error comes only with Unproven")
			require.ErrorIs(t, err, sipauth.ErrCredentials)
		}
		// The nonce binds the verdict to its address and its lifetime.
		vs, _ := a.Check(stranger, method, cred, "alice-secret")
		require.Equal(t, sipauth.Unproven, vs, "proven from an address no nonce was issued to")
		vl, _ := late.Check(loopback, method, cred, "alice-secret")
		require.Equal(t, sipauth.Unproven, vl, "proven after the nonce expired")
		if v == sipauth.Unproven {
			return
		}
		// A proven request gets a password verdict, and it is the password's.
		c, err := digest.ParseCredentials(cred)
		require.NoError(t, err)
		right := strings.EqualFold(c.Response, md5Response(c, method, "alice-secret"))
		require.Equal(t, right, v == sipauth.Accepted, "verdict %v for a response that is right: %v", v, right)
		vw, _ := a.Check(loopback, method, cred, "another-secret")
		require.Equal(t, sipauth.Rejected, vw, "proven with another password")
	})
}
