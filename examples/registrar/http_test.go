package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/ban/bantest"
)

var servingHTTP = regexp.MustCompile(`msg="registrar: serving HTTP" for=(\S+) http=(\S+)`)

// TestHTTP runs the built registrar with -admin and -portal: the operator
// lists bans without logging in, as before; the portal asks customers to
// log in with their SIP account and then serves their pages, with the
// blocks at the addresses where their account registered. -ban-local:
// the phones are on loopback.
func TestHTTP(t *testing.T) {
	p := startBinary(t, "-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-portal", "127.0.0.1:0", "-ban-local")
	p.waitLog(t, `msg="registrar: serving HTTP"`, 2)
	urls := map[string]string{}
	for _, m := range servingHTTP.FindAllStringSubmatch(p.logs.String(), -1) {
		urls[m[1]] = "http://" + m[2]
	}
	get := func(url, user string) (int, string) {
		t.Helper()
		req, err := http.NewRequest("GET", url, nil)
		require.NoError(t, err)
		if user != "" {
			req.SetBasicAuth(user, user+"-secret")
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res.StatusCode, string(body)
	}
	st, body := get(urls["operator"]+"/bans", "")
	assert.Equal(t, 200, st)
	assert.Equal(t, "[]", strings.TrimSpace(body))
	st, _ = get(urls["customers"]+"/bans", "")
	assert.Equal(t, 401, st, "the portal asks who you are")
	st, body = get(urls["customers"]+"/ui/bans", "alice")
	assert.Equal(t, 200, st)
	assert.Contains(t, body, "Nothing of yours is blocked.")

	// At an office, alice's phone works and a softphone mistypes carol's
	// password: carol's customer sees the block, alice's and bob's do not.
	d := bantest.Dialer{Timeout: 2 * time.Second}
	for _, dev := range []struct{ account, password string }{{"alice", "alice-secret"}, {"carol", "typo"}} {
		c, err := d.Dial(context.Background(), "127.0.0.7:0", p.addr)
		require.NoError(t, err)
		defer c.Close()
		n := 1
		if dev.account == "carol" {
			n = 5
		}
		for range n {
			_, err := c.Register(context.Background(), dev.account, dev.password)
			require.NoError(t, err)
		}
	}
	st, body = get(urls["customers"]+"/ui/bans", "carol")
	assert.Equal(t, 200, st)
	assert.Contains(t, body, `href="/ui/bans/carol@127.0.0.7?lang=en"`)
	for _, other := range []string{"alice", "bob"} {
		st, body = get(urls["customers"]+"/bans", other)
		assert.Equal(t, 200, st)
		assert.Equal(t, "[]", strings.TrimSpace(body), other)
	}
	st, _ = get(urls["operator"]+"/bans/carol@127.0.0.7", "")
	assert.Equal(t, 200, st)
	p.stop(t, syscall.SIGTERM)
}
