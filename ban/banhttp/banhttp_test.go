package banhttp_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/banhttp"
	"github.com/sipban/sipban/detect"
)

func TestNewRefusesWithoutAuthorize(t *testing.T) {
	f := newFixture(t, ban.Policy{})
	_, err := banhttp.New(f.g, banhttp.Options{})
	assert.ErrorIs(t, err, banhttp.ErrNoAuthorize)
	h, err := banhttp.New(f.g, banhttp.Options{Unauthenticated: true})
	require.NoError(t, err)
	assert.Len(t, subjects(t, do(h, "", "GET", "/bans", "")), 3, "an explicit open operator API sees all")
}

func subjects(t *testing.T, w *httptest.ResponseRecorder) []string {
	t.Helper()
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	var recs []ban.Record
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &recs))
	out := []string{}
	for _, r := range recs {
		out = append(out, r.Subject.String())
	}
	return out
}

// A customer sees and lifts only their own records; another's reads as
// none at all (404, never 403).
func TestScoping(t *testing.T) {
	f := newFixture(t, ban.Policy{})
	h := f.handler(t, banhttp.Options{})
	assert.Equal(t, []string{"carol@" + office, attack}, subjects(t, do(h, "a", "GET", "/bans", "")))
	assert.Equal(t, []string{"bob@" + other}, subjects(t, do(h, "b", "GET", "/bans", "")))
	assert.Len(t, subjects(t, do(h, "op", "GET", "/bans", "")), 3)

	theirs := "/bans/bob@" + other
	for _, tt := range []struct{ method, path string }{
		{"GET", theirs}, {"DELETE", theirs + "?fixed=credential-typo"},
		{"GET", "/ui" + theirs}, {"GET", "/bans/198.51.100.0/24"},
	} {
		w := do(h, "a", tt.method, tt.path, "")
		assert.Equal(t, http.StatusNotFound, w.Code, "%s %s: %s", tt.method, tt.path, w.Body)
		assert.NotContains(t, w.Body.String(), softUA, "%s %s", tt.method, tt.path)
	}
	w := do(h, "a", "GET", "/bans/nobody@"+other, "")
	assert.Equal(t, http.StatusNotFound, w.Code, "absent and another's answer alike")
	assert.JSONEq(t, `{"error": "no active ban on nobody@198.51.100.60"}`, w.Body.String())
	_, ok := f.g.Record(sub(t, "bob@"+other))
	assert.True(t, ok, "another customer's record was lifted")

	assert.Equal(t, http.StatusOK, do(h, "b", "GET", theirs, "").Code)
	assert.Equal(t, http.StatusNoContent, do(h, "b", "DELETE", theirs+"?fixed=credential-typo", "").Code)
	_, ok = f.g.Record(sub(t, "carol@"+office))
	assert.True(t, ok, "b's lift touched a's record")

	w = do(h, "", "GET", "/bans", "")
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	assert.Contains(t, w.Body.String(), `"error": "who are you?"`)
	w = do(h, "", "GET", "/ui/bans?lang=de", "")
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	assert.Equal(t, "text/html; charset=utf-8", w.Header().Get("Content-Type"), "a page answers a person at the page")
	assert.Contains(t, w.Body.String(), "Melden Sie sich an")
}

func TestScope(t *testing.T) {
	s := banhttp.Scope{Prefixes: []netip.Prefix{netip.MustParsePrefix("2001:db8:1::/48"), netip.MustParsePrefix("192.0.2.7/32")},
		Accounts: []string{"alice"}}
	for _, tt := range []struct {
		subject string
		owns    bool
	}{
		{"192.0.2.7", true},
		{"carol@192.0.2.7", true},
		{"192.0.2.8", false},
		{"192.0.2.0/24", false}, // wider: others' addresses too
		{"2001:db8:1:2::/64", true},
		{"2001:db8::/32", false},
		{"alice@*", true},
		{"alice@203.0.113.9", true},
		{"bob@*", false},
		{"bob@203.0.113.9", false},
	} {
		assert.Equal(t, tt.owns, s.Owns(&ban.Record{Subject: sub(t, tt.subject)}), tt.subject)
	}
}

// Each refusal of a lift has its status and a JSON error.
func TestLiftErrors(t *testing.T) {
	f := newFixture(t, ban.Policy{SelfLifts: 1})
	f.typo(t, office2, "dave") // a second block of customer A's
	h := f.handler(t, banhttp.Options{})
	carol, dave := "/bans/carol@"+office, "/bans/dave@"+office2
	for _, tt := range []struct {
		name, viewer, method, path string
		status                     int
		err                        string
	}{
		{"fixed missing", "a", "DELETE", carol, 400, "say which cause was fixed"},
		{"fixed unknown", "a", "DELETE", carol + "?fixed=everything", 400, `"everything"`},
		{"attack", "a", "DELETE", "/bans/" + attack + "?fixed=credential-typo", 403, "an attack is lifted by an operator only"},
		{"absent", "a", "DELETE", "/bans/ghost@" + office + "?fixed=credential-typo", 404, "no active ban"},
		{"unreadable", "a", "DELETE", "/bans/x?fixed=credential-typo", 400, "detect: subject"},
		{"lifted", "a", "DELETE", carol + "?fixed=credential-typo", 204, ""},
		{"lifted already", "a", "DELETE", carol + "?fixed=credential-typo", 404, "no active ban"},
		{"limit", "a", "DELETE", dave + "?fixed=credential-typo", 429, "self-service lifts used up"},
		{"operator past the limit", "op", "DELETE", dave, 204, ""},
		{"operator lifts an attack", "op", "DELETE", "/bans/" + attack, 204, ""},
	} {
		w := do(h, tt.viewer, tt.method, tt.path, "")
		assert.Equal(t, tt.status, w.Code, "%s: %s", tt.name, w.Body)
		if tt.err != "" {
			var body map[string]string
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body), tt.name)
			assert.Contains(t, body["error"], tt.err, tt.name)
		}
	}
	_, ok := f.g.Record(sub(t, attack))
	assert.False(t, ok)
	// The customer's lift is kept as theirs, with what they fixed.
	f.typo(t, office, "carol")
	rec, _ := f.g.Record(sub(t, "carol@"+office))
	require.NotEmpty(t, rec.Lifts)
	assert.Equal(t, ban.LiftNote{By: "a", Fixed: ban.CauseTypo, Cause: ban.CauseTypo, At: rec.Lifts[0].At}, rec.Lifts[0])
}

func TestHostCheck(t *testing.T) {
	f := newFixture(t, ban.Policy{})
	local := &net.TCPAddr{IP: net.ParseIP("192.0.2.10"), Port: 8080}
	for _, tt := range []struct {
		name  string
		hosts []string
		host  string
		ok    bool
	}{
		{"localhost", nil, "localhost:8080", true},
		{"loopback", nil, "127.0.0.1:8080", true},
		{"IPv6 loopback", nil, "[::1]:8080", true},
		{"the listener's address", nil, "192.0.2.10:8080", true},
		{"another address", nil, "192.0.2.11:8080", false},
		{"a name rebound to loopback", nil, "attacker.example:8080", false},
		{"a name rebound, no port", nil, "attacker.example", false},
		{"configured name", []string{"bans.example.net"}, "BANS.example.net:443", true},
		{"configured name and port", []string{"bans.example.net:8443"}, "bans.example.net:8443", true},
		{"configured port only", []string{"bans.example.net:8443"}, "bans.example.net:443", false},
		{"configured replaces the default", []string{"bans.example.net"}, "localhost:8080", false},
	} {
		h := f.handler(t, banhttp.Options{Hosts: tt.hosts})
		r := httptest.NewRequest("GET", "/bans", nil)
		r.Host = tt.host
		r.Header.Set("X-Viewer", "op")
		r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, local))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if tt.ok {
			assert.Equal(t, http.StatusOK, w.Code, tt.name)
		} else {
			assert.Equal(t, http.StatusForbidden, w.Code, tt.name)
			assert.Contains(t, w.Body.String(), "not served", tt.name)
		}
	}
}

// Cross-origin state changes are refused, and so is a form without its
// token or with another viewer's.
func TestCSRF(t *testing.T) {
	f := newFixture(t, ban.Policy{})
	h := f.handler(t, banhttp.Options{})
	carol := "/bans/carol@" + office
	form := func(viewer string) string {
		t.Helper()
		w := do(h, viewer, "GET", "/ui/bans/carol@"+office, "")
		require.Equal(t, http.StatusOK, w.Code)
		doc := parse(t, w.Body.String())
		tok := find(doc, func(n *html.Node) bool { return n.Data == "input" && attr(n, "name") == "token" })
		require.NotNil(t, tok)
		return attr(tok, "value")
	}
	tokA, tokOp := form("a"), form("op")
	fixed := "fixed=credential-typo&token="
	for _, tt := range []struct {
		name, method, path, body string
		header                   []string
	}{
		{"JSON, cross-origin", "DELETE", carol + "?fixed=credential-typo", "", []string{"Origin: https://attacker.example"}},
		{"JSON, cross-site fetch", "DELETE", carol + "?fixed=credential-typo", "", []string{"Sec-Fetch-Site: cross-site"}},
		{"form, cross-origin", "POST", "/ui" + carol, fixed + url.QueryEscape(tokA), []string{"Origin: https://attacker.example"}},
		{"form without a token", "POST", "/ui" + carol, "fixed=credential-typo", nil},
		{"form with a made-up token", "POST", "/ui" + carol, fixed + "AAAA", nil},
		{"form with another viewer's token", "POST", "/ui" + carol, fixed + url.QueryEscape(tokOp), nil},
	} {
		w := do(h, "a", tt.method, tt.path, tt.body, tt.header...)
		assert.Equal(t, http.StatusForbidden, w.Code, "%s: %s", tt.name, w.Body)
		_, ok := f.g.Record(sub(t, "carol@"+office))
		require.True(t, ok, "%s lifted it", tt.name)
	}
	w := do(h, "a", "POST", "/ui"+carol, fixed+url.QueryEscape(tokA), "Origin: http://localhost:8080", "Sec-Fetch-Site: same-origin")
	assert.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
	assert.Equal(t, "/ui/bans?lang=en&lifted=carol%40198.51.100.50", w.Header().Get("Location"))
	_, ok := f.g.Record(sub(t, "carol@"+office))
	assert.False(t, ok)
}

func TestLanguage(t *testing.T) {
	f := newFixture(t, ban.Policy{})
	h := f.handler(t, banhttp.Options{})
	s := sub(t, "carol@"+office)
	de, _ := f.g.Explain(s, "de")
	en, _ := f.g.Explain(s, "en")
	require.NotEqual(t, de.Diagnosis.Summary, en.Diagnosis.Summary)
	for _, tt := range []struct {
		name, query, accept string
		want                ban.Record
	}{
		{"default", "", "", en},
		{"query", "?lang=de", "", de},
		{"query beats the header", "?lang=en", "de", en},
		{"header", "", "de-AT", de},
		{"q-values", "", "fr;q=0.9, en;q=0.5, de;q=0.8", de},
		{"q=0 is refused", "", "de;q=0, en;q=0.1", en},
		{"unknown", "?lang=xx", "", en},
	} {
		var hdr []string
		if tt.accept != "" {
			hdr = []string{"Accept-Language: " + tt.accept}
		}
		w := do(h, "a", "GET", "/bans/carol@"+office+tt.query, "", hdr...)
		require.Equal(t, http.StatusOK, w.Code)
		var got ban.Record
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
		assert.Equal(t, tt.want.Diagnosis.Summary, got.Diagnosis.Summary, tt.name)

		doc := parse(t, do(h, "a", "GET", "/ui/bans/carol@"+office+tt.query, "", hdr...).Body.String())
		lang := tt.want.Diagnosis.Summary == de.Diagnosis.Summary
		root := find(doc, func(n *html.Node) bool { return n.Data == "html" })
		assert.Equal(t, map[bool]string{true: "de", false: "en"}[lang], attr(root, "lang"), tt.name)
		button := find(doc, func(n *html.Node) bool { return attr(n, "id") == "unblock" })
		assert.Equal(t, map[bool]string{true: "Entsperren", false: "Unblock"}[lang], text(button), tt.name)
	}
}

// A caller overrides the page's strings, and adds a language, which the
// page links to once the Guard explains in it too.
func TestLanguageOverride(t *testing.T) {
	f := newFixture(t, ban.Policy{})
	texts := map[string]banhttp.Texts{"de": {"lift.button": "Freigeben"}, "fr": {"lift.button": "Débloquer"}, "it": {"lift.button": "Sblocca"}}
	h := f.handler(t, banhttp.Options{Texts: texts})
	doc := parse(t, do(h, "a", "GET", "/ui/bans/carol@"+office+"?lang=de", "").Body.String())
	assert.Equal(t, "Freigeben", text(find(doc, func(n *html.Node) bool { return attr(n, "id") == "unblock" })))
	assert.Equal(t, "Gerät (User-Agent)", text(find(doc, func(n *html.Node) bool { return n.Data == "th" && strings.HasPrefix(text(n), "Gerät") })),
		"the keys not overridden stay German")
	var langs []string
	for _, a := range findAll(doc, func(n *html.Node) bool { return attr(n, "hreflang") != "" }) {
		langs = append(langs, attr(a, "hreflang"))
	}
	assert.Equal(t, []string{"en"}, langs, "the current language is no link; the Guard explains in neither fr nor it")

	g, err := ban.New(ban.Options{Logger: slog.New(slog.DiscardHandler), Messages: map[string]ban.Messages{"fr": {}}})
	require.NoError(t, err)
	h, err = banhttp.New(g, banhttp.Options{Unauthenticated: true, Texts: texts})
	require.NoError(t, err)
	doc = parse(t, do(h, "", "GET", "/ui/bans?lang=fr", "").Body.String())
	langs = nil
	for _, a := range findAll(doc, func(n *html.Node) bool { return attr(n, "hreflang") != "" }) {
		langs = append(langs, attr(a, "hreflang")+"="+text(a))
	}
	assert.Equal(t, []string{"de=Deutsch", "en=English"}, langs)
	assert.Equal(t, "fr", attr(find(doc, func(n *html.Node) bool { return n.Data == "html" }), "lang"))
}

func TestAcceptLanguage(t *testing.T) {
	for _, tt := range []struct {
		header string
		want   []string
	}{
		{"", []string{}},
		{"de", []string{"de"}},
		{"de-CH, fr;q=0.9, en;q=0.8, *;q=0.5", []string{"de-CH", "fr", "en"}},
		{"en;q=0.2, de;q=0.7, fr", []string{"fr", "de", "en"}},
		{"en;q=0.5, de;q=0.5", []string{"en", "de"}},
		{"de;q=0, en", []string{"en"}},
		{"de;q=2, en;q=x, fr;r=1, it;q=0.3", []string{"it"}},
		{"<script>, de", []string{"de"}},
		{" , ,de ;q=0.4", []string{"de"}},
	} {
		got := banhttp.AcceptLanguage(tt.header)
		if got == nil {
			got = []string{}
		}
		assert.Equal(t, tt.want, got, "%q", tt.header)
	}
}

// An operator reads every record a page at a time; a customer's pages hold
// only theirs, whatever lies between.
func TestPaging(t *testing.T) {
	f := newFixture(t, ban.Policy{})
	f.typo(t, office2, "dave")
	h := f.handler(t, banhttp.Options{})
	walk := func(viewer, first string) (got []string, pages int) {
		t.Helper()
		for next := first; next != ""; pages++ {
			require.Less(t, pages, 10)
			w := do(h, viewer, "GET", next, "")
			got = append(got, subjects(t, w)...)
			next = ""
			if l := w.Header().Get("Link"); l != "" {
				next = strings.TrimSuffix(strings.TrimPrefix(l, "<"), `>; rel="next"`)
			}
		}
		return got, pages
	}
	all, pages := walk("op", "/bans?limit=1")
	assert.Equal(t, []string{"carol@" + office, "dave@" + office2, "bob@" + other, attack}, all)
	assert.Equal(t, 4, pages)
	mine, _ := walk("a", "/bans?limit=2")
	assert.Equal(t, []string{"carol@" + office, "dave@" + office2, attack}, mine, "bob's record, between, is left out")
	theirs, pages := walk("b", "/bans?limit=1")
	assert.Equal(t, []string{"bob@" + other}, theirs)
	assert.LessOrEqual(t, pages, 2)
	for _, bad := range []string{"/bans?limit=0", "/bans?limit=10001", "/bans?after=x"} {
		assert.Equal(t, http.StatusBadRequest, do(h, "op", "GET", bad, "").Code, bad)
	}
}

// A customer's page reads through at most 10,000 records of everyone's:
// past them it may be empty, with a Link to the rest.
func TestPagingWindow(t *testing.T) {
	f := newFixture(t, ban.Policy{})
	for i := range 10_001 {
		ev := detect.Event{Source: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 5060),
			Method: "OPTIONS", UserAgent: "friendly-scanner"}
		require.NoError(t, f.g.Observe(context.Background(), &ev))
	}
	h := f.handler(t, banhttp.Options{})
	w := do(h, "a", "GET", "/bans", "")
	assert.Empty(t, subjects(t, w), "the first 10,000 are scanners")
	link := w.Header().Get("Link")
	assert.Equal(t, `</bans?after=10.0.39.15&limit=1000>; rel="next"`, link)
	next := strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)
	w = do(h, "a", "GET", next, "")
	assert.Equal(t, []string{"carol@" + office, attack}, subjects(t, w))
	assert.Empty(t, w.Header().Get("Link"))
}

// GET /stats gives an operator the Guard's counts; a customer gets none.
func TestStats(t *testing.T) {
	f := newFixture(t, ban.Policy{})
	h := f.handler(t, banhttp.Options{})
	w := do(h, "op", "GET", "/stats", "")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	var st banhttp.Stats
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &st))
	assert.Equal(t, 3, st.Records)
	assert.Equal(t, f.g.Stats().Events, st.Events)
	assert.Equal(t, banhttp.StoreStats{}, st.Store, "no store, nothing written")
	assert.Contains(t, w.Body.String(), `"enforce_errors": 0`)
	assert.Equal(t, http.StatusForbidden, do(h, "a", "GET", "/stats", "").Code)
}
