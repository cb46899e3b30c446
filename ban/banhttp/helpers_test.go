package banhttp_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/banhttp"
	"github.com/sipban/sipban/detect"
	"github.com/sipban/sipban/internal/fakeclock"
)

const (
	office  = "198.51.100.50" // customer A's sites
	office2 = "198.51.100.51"
	other   = "198.51.100.60" // customer B's site
	attack  = "203.0.113.80"
	deskUA  = "Yealink SIP-T46S 66.86.0.15"
	softUA  = "Zoiper rv2.10.19.2"
	healthy = 5060
	suspect = 5062
)

// fixture is a Guard holding, at two customers' sites, a softphone
// blocked for mistyping its password next to a working desk phone, and an
// address banned for guessing passwords.
type fixture struct {
	g     *ban.Guard
	clock *fakeclock.Clock
}

func newFixture(t *testing.T, pol ban.Policy) *fixture {
	t.Helper()
	f := &fixture{clock: fakeclock.New(time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC))}
	g, err := ban.New(ban.Options{Policy: pol, Logger: slog.New(slog.DiscardHandler), Now: f.clock.Now})
	require.NoError(t, err)
	f.g = g
	f.typo(t, office, "carol")
	f.typo(t, other, "bob")
	for i := range 5 {
		f.send(t, attack, 5060, "", "REGISTER", string(rune('a'+i)), 403)
	}
	require.Len(t, g.Bans(), 3)
	return f
}

// typo makes a softphone at site blocked for account's password next to
// a desk phone that logs in as alice.
func (f *fixture) typo(t *testing.T, site, account string) {
	t.Helper()
	f.send(t, site, healthy, deskUA, "REGISTER", "alice", 200)
	for range 5 {
		f.send(t, site, suspect, softUA, "REGISTER", account, 403)
	}
	_, ok := f.g.Record(sub(t, account+"@"+site))
	require.True(t, ok, "no block; have %+v", f.g.Bans())
}

func (f *fixture) send(t *testing.T, addr string, port uint16, agent, method, account string, status int) {
	t.Helper()
	f.clock.Advance(time.Second)
	ev := detect.Event{Source: netip.AddrPortFrom(netip.MustParseAddr(addr), port), Transport: "udp", Method: method,
		Account: account, Credentials: true, Proven: true, Status: status, UserAgent: agent}
	require.NoError(t, f.g.Observe(context.Background(), &ev))
}

func sub(t *testing.T, s string) detect.Subject {
	t.Helper()
	v, err := detect.ParseSubject(s)
	require.NoError(t, err)
	return v
}

// viewers are who the tests' requests come from, by the X-Viewer header:
// customer A owns the office (and the attacked address, to try lifting an
// attack), B the other site.
var viewers = map[string]banhttp.Viewer{
	"a":  banhttp.Customer("a", banhttp.Scope{Prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.48/29"), netip.MustParsePrefix(attack + "/32")}}.Owns),
	"b":  banhttp.Customer("b", banhttp.Scope{Prefixes: []netip.Prefix{netip.MustParsePrefix(other + "/32")}}.Owns),
	"op": banhttp.Operator("noc"),
}

func authorize(r *http.Request) (banhttp.Viewer, error) {
	v, ok := viewers[r.Header.Get("X-Viewer")]
	if !ok {
		return banhttp.Viewer{}, errors.New("who are you?")
	}
	return v, nil
}

func (f *fixture) handler(t *testing.T, opts banhttp.Options) *banhttp.Handler {
	t.Helper()
	if opts.Authorize == nil && !opts.Unauthenticated {
		opts.Authorize = authorize
	}
	h, err := banhttp.New(f.g, opts)
	require.NoError(t, err)
	return h
}

// do serves one request from viewer on localhost; header adds "Name:
// value" lines.
func do(h http.Handler, viewer, method, target string, body string, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "http://localhost:8080"+target, strings.NewReader(body))
	if viewer != "" {
		r.Header.Set("X-Viewer", viewer)
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, kv := range header {
		k, v, _ := strings.Cut(kv, ": ")
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}
