package registrar_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/storetest"
	"github.com/sipban/sipban/detect"
	"github.com/sipban/sipban/internal/registrar"
)

// bannedGuard returns a Guard holding an IPv4 ban, an IPv6 prefix ban and
// an account block.
func bannedGuard(t *testing.T) *ban.Guard {
	t.Helper()
	now := time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)
	g, err := ban.New(ban.Options{Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }})
	require.NoError(t, err)
	observe := func(src string, ev detect.Event) {
		t.Helper()
		ev.Source = netip.MustParseAddrPort(src)
		require.NoError(t, g.Observe(t.Context(), &ev))
	}
	observe("192.0.2.1:5060", detect.Event{Method: "OPTIONS", Status: 200, UserAgent: "friendly-scanner"})
	observe("[2001:db8::1]:5060", detect.Event{Method: "OPTIONS", Status: 200, UserAgent: "sipvicious"})
	for range 5 {
		observe("192.0.2.9:5060", detect.Event{Method: "REGISTER", Status: 404, Account: "olduser"})
	}
	require.Len(t, g.Bans(), 3, "%+v", g.Bans())
	return g
}

// local is where the API is served: the Handler serves Host headers that
// name loopback, localhost or an address only.
const local = "http://127.0.0.1:8080"

func TestAdminHandler(t *testing.T) {
	tests := []struct {
		name   string
		method string
		path   string
		status int
		want   string // substring of the body
	}{
		{"list", "GET", "/bans", 200, `"subject": "2001:db8::/64"`},
		{"address", "GET", "/bans/192.0.2.1", 200, `"cause": "scanner"`},
		{"IPv6 prefix", "GET", "/bans/2001:db8::/64", 200, `"scope": "address"`},
		{"IPv6 prefix percent-encoded", "GET", "/bans/2001:db8::%2F64", 200, `"subject": "2001:db8::/64"`},
		{"account block", "GET", "/bans/olduser@192.0.2.9", 200, `"scope": "account"`},
		{"account block percent-encoded", "GET", "/bans/olduser%40192.0.2.9", 200, `"cause": "stale-account"`},
		{"address inside a prefix is not its subject", "GET", "/bans/2001:db8::1", 404, `"error": "no active ban on 2001:db8::1"`},
		{"not banned", "GET", "/bans/198.51.100.1", 404, `"error"`},
		{"address of an account block", "GET", "/bans/192.0.2.9", 404, `"error"`},
		{"unreadable", "GET", "/bans/not-an-address", 400, `"error": "detect: subject`},
		{"empty account", "GET", "/bans/@192.0.2.9", 400, `"error"`},
		{"lift", "DELETE", "/bans/192.0.2.1", 204, ""},
		{"lift prefix", "DELETE", "/bans/2001:db8::/64", 204, ""},
		{"lift account block", "DELETE", "/bans/olduser@192.0.2.9", 204, ""},
		{"lift absent", "DELETE", "/bans/198.51.100.1", 404, `"error"`},
		{"lift unreadable", "DELETE", "/bans/x", 400, `"error"`},
		{"method not allowed", "POST", "/bans", 405, ""},
		{"page", "GET", "/bans?limit=1", 200, `"subject": "192.0.2.1"`},
		{"page after", "GET", "/bans?limit=1&after=192.0.2.1", 200, `"subject": "olduser@192.0.2.9"`},
		{"bad limit", "GET", "/bans?limit=0", 400, `"error": "limit`},
		{"bad cursor", "GET", "/bans?after=x", 400, `"error": "after`},
		{"account guard subject", "GET", "/bans/alice@*", 404, `"error": "no active ban on alice@*"`},
		{"unknown path", "GET", "/other", 404, ""},
		{"a name rebound to loopback", "GET", "http://attacker.example:8080/bans", 403, `"error": "host \"attacker.example:8080\" not served"`},
		{"lift, cross-origin", "DELETE", "http://localhost:8080/bans/192.0.2.1", 403, `"error": "cross-origin request refused"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := registrar.AdminHandler(bannedGuard(t))
			rec := httptest.NewRecorder()
			target := local + tt.path
			if strings.HasPrefix(tt.path, "http:") {
				target = tt.path
			}
			req := httptest.NewRequest(tt.method, target, nil)
			if strings.HasPrefix(tt.name, "lift, cross-origin") {
				req.Header.Set("Origin", "http://attacker.example")
			}
			h.ServeHTTP(rec, req)
			assert.Equal(t, tt.status, rec.Code, rec.Body.String())
			assert.Contains(t, rec.Body.String(), tt.want)
			if rec.Code != 204 && rec.Code != 405 && tt.path != "/other" {
				assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			}
		})
	}
}

func TestAdminPages(t *testing.T) {
	h := registrar.AdminHandler(bannedGuard(t))
	var got []string
	next := "/bans?limit=2"
	for pages := 0; next != ""; pages++ {
		require.Less(t, pages, 5)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", local+next, nil))
		require.Equal(t, 200, rec.Code)
		var recs []ban.Record
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &recs))
		for _, r := range recs {
			got = append(got, r.Subject.String())
		}
		next = ""
		if l := rec.Header().Get("Link"); l != "" {
			next = strings.TrimSuffix(strings.TrimPrefix(l, "<"), `>; rel="next"`)
		}
	}
	assert.Equal(t, []string{"192.0.2.1", "olduser@192.0.2.9", "2001:db8::/64"}, got)
}

func TestAdminLift(t *testing.T) {
	g := bannedGuard(t)
	h := registrar.AdminHandler(g)
	serve := func(method, path string) *httptest.ResponseRecorder {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, local+path, nil))
		return rec
	}
	require.Equal(t, 204, serve("DELETE", "/bans/2001:db8::/64").Code)
	assert.False(t, g.Banned(netip.MustParseAddr("2001:db8::1")))
	assert.Equal(t, 404, serve("GET", "/bans/2001:db8::/64").Code)

	var left []ban.Record
	rec := serve("GET", "/bans")
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &left))
	require.Len(t, left, 2)

	require.Equal(t, 204, serve("DELETE", "/bans/192.0.2.1").Code)
	require.Equal(t, 204, serve("DELETE", "/bans/olduser@192.0.2.9").Code)
	rec = serve("GET", "/bans")
	assert.Equal(t, "[]", strings.TrimSpace(rec.Body.String()), "an empty list is [], not null")
}

// The portal: a customer logs in with a SIP account and sees the records
// of the addresses where it logged in, and no others; wrong passwords are
// guesses like those over SIP: a stranger's ban its address, those of a
// browser that logged in as the account before block the account there.
func TestPortal(t *testing.T) {
	now := time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)
	dir := registrar.NewDirectory(demoAccounts(t))
	g, err := ban.New(ban.Options{Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }, Directory: dir})
	require.NoError(t, err)
	observe := func(src string, ev detect.Event) {
		t.Helper()
		ev.Source, ev.Proven, ev.Credentials = netip.MustParseAddrPort(src), true, true
		require.NoError(t, g.Observe(t.Context(), &ev))
	}
	observe("192.0.2.20:5060", detect.Event{Method: "REGISTER", Status: 200, Account: "alice", UserAgent: "desk"})
	for range 5 {
		observe("192.0.2.20:5062", detect.Event{Method: "REGISTER", Status: 403, Account: "carol", UserAgent: "soft"})
	}
	for i := range 5 {
		observe("192.0.2.20:6000", detect.Event{Method: "REGISTER", Status: 403, Account: fmt.Sprintf("user%d", i), UserAgent: "guesser"})
	}
	guarded, ok := g.Record(detect.Subject{Prefix: netip.MustParsePrefix("192.0.2.20/32")})
	require.True(t, ok, "records: %+v", g.Bans())
	require.Equal(t, ban.ScopeGuard, guarded.Scope)
	observe("192.0.2.1:5060", detect.Event{Method: "OPTIONS", Status: 200, UserAgent: "friendly-scanner"})
	require.Len(t, g.Bans(), 3)
	h, err := registrar.PortalHandler(g, dir)
	require.NoError(t, err)
	serve := func(from, user, pass, path string) *httptest.ResponseRecorder {
		t.Helper()
		req := httptest.NewRequest("GET", local+path, nil)
		req.RemoteAddr = from
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	const browser = "198.51.100.9:40000"
	rec := serve(browser, "", "", "/bans")
	assert.Equal(t, 401, rec.Code)
	assert.Equal(t, `Basic realm="sipban", charset="UTF-8"`, rec.Header().Get("WWW-Authenticate"))

	rec = serve(browser, "alice", "alice-secret", "/bans")
	require.Equal(t, 200, rec.Code)
	assert.Contains(t, rec.Body.String(), `"subject": "192.0.2.20"`, "the guard of the address alice logged in from")
	assert.NotContains(t, rec.Body.String(), `carol`, "carol's block and softphone are carol's to know")
	assert.Equal(t, 404, serve(browser, "alice", "alice-secret", "/bans/carol@192.0.2.20").Code)
	mine := serve(browser, "carol", "carol-secret", "/bans/carol@192.0.2.20").Body.String()
	assert.Contains(t, mine, `"soft"`)
	assert.NotContains(t, mine, `"desk"`, "nor is alice's desk phone carol's")
	assert.NotContains(t, rec.Body.String(), "192.0.2.1\"")
	assert.Equal(t, 404, serve(browser, "alice", "alice-secret", "/bans/192.0.2.1").Code)
	assert.Equal(t, "[]", strings.TrimSpace(serve(browser, "bob", "bob-secret", "/bans").Body.String()))
	assert.Equal(t, 404, serve(browser, "bob", "bob-secret", "/bans/carol@192.0.2.20").Code)

	rec = serve("198.51.100.12:40000", "nobody", "x", "/bans")
	assert.Equal(t, 401, rec.Code)
	assert.JSONEq(t, `{"error": "log in with your SIP account and password"}`, rec.Body.String(), "an unknown account reads as a wrong password")

	const guesser = "198.51.100.11:40000"
	for range 5 {
		assert.Equal(t, 401, serve(guesser, "alice", "guess", "/bans").Code)
	}
	assert.True(t, g.Banned(netip.MustParseAddr("198.51.100.11")), "five wrong passwords over HTTP: %+v", g.Bans())
	assert.Equal(t, 401, serve(guesser, "alice", "alice-secret", "/bans").Code, "refused unchecked once banned")

	// The browser logged in as alice: its typos block alice there, as a
	// phone's would, and it may still log in as bob.
	for range 5 {
		assert.Equal(t, 401, serve(browser, "alice", "alice-secret ", "/bans").Code)
	}
	blocked, ok := g.Record(detect.Subject{Prefix: netip.MustParsePrefix("198.51.100.9/32"), Account: "alice"})
	require.True(t, ok, "records: %+v", g.Bans())
	assert.Equal(t, ban.ScopeAccount, blocked.Scope)
	assert.False(t, g.Banned(netip.MustParseAddr("198.51.100.9")))
	assert.Equal(t, 401, serve(browser, "alice", "alice-secret", "/bans").Code, "refused unchecked once blocked")
	assert.Equal(t, 200, serve(browser, "bob", "bob-secret", "/bans").Code)
	// Alice failing from two addresses guards her account: a browser
	// that never logged in as her is refused, right password or not.
	guard, ok := g.Record(detect.Subject{Account: "alice"})
	require.True(t, ok, "records: %+v", g.Bans())
	assert.Equal(t, ban.ScopeGuard, guard.Scope)
	assert.Equal(t, 401, serve("198.51.100.10:40000", "alice", "alice-secret", "/bans").Code)
}

// After a restart the portal still shows a customer the records at the
// addresses where their devices logged in: the Guard lists the devices it
// kept at their sites again, before any of them logs in anew.
func TestPortalAfterRestart(t *testing.T) {
	now := time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)
	dir := registrar.NewDirectory(demoAccounts(t))
	st := storetest.NewMemory()
	open := func() *ban.Guard {
		t.Helper()
		g, err := ban.New(ban.Options{Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }, Directory: dir, Store: st})
		require.NoError(t, err)
		_, err = g.Restore(t.Context())
		require.NoError(t, err)
		return g
	}
	g := open()
	evs := []detect.Event{{Source: netip.MustParseAddrPort("192.0.2.20:5060"), Status: 200, Account: "alice", UserAgent: "desk"}}
	for i := range 5 {
		evs = append(evs, detect.Event{Source: netip.MustParseAddrPort("192.0.2.20:6000"), Status: 403, Account: fmt.Sprintf("user%d", i), UserAgent: "guesser"})
	}
	for _, ev := range evs {
		now = now.Add(time.Second)
		ev.Method, ev.Proven, ev.Credentials = "REGISTER", true, true
		require.NoError(t, g.Observe(t.Context(), &ev))
	}
	require.Len(t, g.Bans(), 1)
	require.Equal(t, ban.ScopeGuard, g.Bans()[0].Scope)
	require.Greater(t, g.Bans()[0].Until.Sub(now), 5*time.Minute)
	require.NoError(t, g.Close(t.Context()))

	now = now.Add(5 * time.Minute)
	g = open()
	t.Cleanup(func() { _ = g.Close(t.Context()) })
	require.Len(t, g.Bans(), 1, "the block is restored")
	h, err := registrar.PortalHandler(g, dir)
	require.NoError(t, err)
	bans := func(user, pass string) string {
		t.Helper()
		req := httptest.NewRequest("GET", local+"/bans", nil)
		req.RemoteAddr = "198.51.100.9:40000"
		req.SetBasicAuth(user, pass)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.Equal(t, 200, rec.Code)
		return rec.Body.String()
	}
	assert.Contains(t, bans("alice", "alice-secret"), `"subject": "192.0.2.20"`, "alice's desk phone logged in there before the restart")
	assert.Equal(t, "[]", strings.TrimSpace(bans("bob", "bob-secret")))
}
