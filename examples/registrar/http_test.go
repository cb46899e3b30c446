package main

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var servingHTTP = regexp.MustCompile(`msg="registrar: serving HTTP" for=(\S+) http=(\S+)`)

// TestHTTP runs the built registrar with -admin and -portal: the operator
// lists bans without logging in, as before; the portal asks customers to
// log in with their SIP account and then serves their pages.
func TestHTTP(t *testing.T) {
	p := startBinary(t, "-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-portal", "127.0.0.1:0")
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
	p.stop(t, syscall.SIGTERM)
}
