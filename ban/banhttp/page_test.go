package banhttp_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/banhttp"
	"github.com/sipban/sipban/detect"
	"github.com/sipban/sipban/internal/fakeclock"
)

func parse(t *testing.T, body string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	require.NoError(t, err)
	return doc
}

// find returns the first element under n that match accepts, or nil.
func find(n *html.Node, match func(*html.Node) bool) *html.Node {
	all := findAll(n, match)
	if len(all) == 0 {
		return nil
	}
	return all[0]
}

func findAll(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	for c := range n.Descendants() {
		if c.Type == html.ElementNode && match(c) {
			out = append(out, c)
		}
	}
	return out
}

func attr(n *html.Node, key string) string {
	if n == nil {
		return ""
	}
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func text(n *html.Node) string {
	if n == nil {
		return ""
	}
	var b strings.Builder
	for c := range n.Descendants() {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	}
	return strings.TrimSpace(b.String())
}

// The record page works without JavaScript: the cause, the devices with
// the suspect marked and the healthy phone not, the advice, and a form
// that posts which cause was fixed.
func TestRecordPage(t *testing.T) {
	f := newFixture(t, ban.Policy{})
	h := f.handler(t, banhttp.Options{})
	w := do(h, "a", "GET", "/ui/bans/carol@"+office, "")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Equal(t, "text/html; charset=utf-8", w.Header().Get("Content-Type"))
	assert.Contains(t, w.Header().Get("Content-Security-Policy"), "default-src 'none'")
	doc := parse(t, w.Body.String())
	assert.Empty(t, findAll(doc, func(n *html.Node) bool {
		return n.Data == "script" || n.Data == "link" || n.Data == "img" || n.Data == "iframe"
	}), "no scripts, no external assets")

	assert.Equal(t, ban.CauseTypo, attr(find(doc, func(n *html.Node) bool { return attr(n, "id") == "cause" }), "data-cause"))
	rows := findAll(doc, func(n *html.Node) bool { return n.Data == "tr" && attr(n, "data-port") != "" })
	require.Len(t, rows, 2)
	marked := map[string]string{}
	for _, r := range rows {
		marked[attr(r, "data-port")] = attr(r, "data-suspect")
		if attr(r, "data-suspect") == "true" {
			assert.Equal(t, "suspect", attr(r, "class"))
			assert.Contains(t, text(r), "Suspect: fix this device")
			assert.Contains(t, text(r), softUA)
		} else {
			assert.NotContains(t, text(r), "Suspect")
		}
	}
	assert.Equal(t, map[string]string{"5062": "true", "5060": "false"}, marked)
	assert.NotEmpty(t, findAll(doc, func(n *html.Node) bool { return n.Data == "li" && n.Parent != nil && attr(n.Parent, "id") == "advice" }))

	assert.Equal(t, "Self-service unblocks left: 3.", text(find(doc, func(n *html.Node) bool { return attr(n, "id") == "lifts-left" })))
	form := find(doc, func(n *html.Node) bool { return n.Data == "form" })
	require.NotNil(t, form)
	assert.Equal(t, "post", attr(form, "method"))
	assert.Equal(t, "/ui/bans/carol@198.51.100.50?lang=en", attr(form, "action"))
	var options []string
	selected := ""
	for _, o := range findAll(form, func(n *html.Node) bool { return n.Data == "option" && attr(n, "value") != "" }) {
		options = append(options, attr(o, "value"))
		for _, a := range o.Attr {
			if a.Key == "selected" {
				selected = attr(o, "value")
			}
		}
	}
	assert.Equal(t, []string{ban.CauseOutdated, ban.CauseTypo, ban.CauseTestDevice, ban.CausePBX, ban.CauseScript}, options)
	assert.Equal(t, ban.CauseTypo, selected, "the diagnosed cause is chosen")
	assert.NotNil(t, find(form, func(n *html.Node) bool { return n.Data == "button" && attr(n, "type") == "submit" }))
}

// An attack offers a customer no form, and says why; an operator gets one.
func TestRecordPageAttack(t *testing.T) {
	f := newFixture(t, ban.Policy{})
	h := f.handler(t, banhttp.Options{})
	doc := parse(t, do(h, "a", "GET", "/ui/bans/"+attack, "").Body.String())
	assert.Nil(t, find(doc, func(n *html.Node) bool { return n.Data == "form" }))
	assert.Contains(t, text(find(doc, func(n *html.Node) bool { return attr(n, "id") == "not-liftable" })), "only your provider's operator")
	doc = parse(t, do(h, "op", "GET", "/ui/bans/"+attack, "").Body.String())
	assert.NotNil(t, find(doc, func(n *html.Node) bool { return n.Data == "form" }))
}

// A refused lift shows the page again with why, in the page's language.
func TestLiftFormRefusals(t *testing.T) {
	f := newFixture(t, ban.Policy{SelfLifts: 1})
	f.typo(t, office2, "dave")
	h := f.handler(t, banhttp.Options{})
	post := func(path, fixed, lang string) (int, string) {
		t.Helper()
		doc := parse(t, do(h, "a", "GET", "/ui"+path+"?lang="+lang, "").Body.String())
		tok := attr(find(doc, func(n *html.Node) bool { return attr(n, "name") == "token" }), "value")
		w := do(h, "a", "POST", "/ui"+path+"?lang="+lang, "fixed="+fixed+"&token="+tok)
		return w.Code, text(find(parse(t, w.Body.String()), func(n *html.Node) bool { return attr(n, "id") == "refusal" }))
	}
	st, msg := post("/bans/carol@"+office, "", "en")
	assert.Equal(t, http.StatusBadRequest, st)
	assert.Equal(t, "Choose which cause you fixed.", msg)
	st, _ = post("/bans/carol@"+office, "credential-typo", "en")
	assert.Equal(t, http.StatusSeeOther, st)
	st, msg = post("/bans/dave@"+office2, "credential-typo", "de")
	assert.Equal(t, http.StatusTooManyRequests, st)
	assert.Contains(t, msg, "Selbst-Entsperrungen vorerst aufgebraucht")
	w := do(h, "a", "POST", "/ui/bans/ghost@"+office, "fixed=credential-typo&token=x")
	assert.Equal(t, http.StatusNotFound, w.Code)
	assert.Contains(t, w.Body.String(), "There is no such block")
}

// The list page links to each of the viewer's records, and says which was
// just lifted.
func TestListPage(t *testing.T) {
	f := newFixture(t, ban.Policy{})
	h := f.handler(t, banhttp.Options{})
	doc := parse(t, do(h, "a", "GET", "/ui/bans?lifted=dave@198.51.100.50", "").Body.String())
	var links []string
	for _, a := range findAll(doc, func(n *html.Node) bool { return n.Data == "a" && strings.HasPrefix(attr(n, "href"), "/ui/bans/") }) {
		links = append(links, attr(a, "href"))
	}
	assert.Equal(t, []string{"/ui/bans/carol@198.51.100.50?lang=en", "/ui/bans/203.0.113.80?lang=en"}, links)
	assert.Contains(t, text(find(doc, func(n *html.Node) bool { return attr(n, "id") == "lifted" })), "dave@198.51.100.50 is unblocked")
	doc = parse(t, do(h, "a", "GET", "/ui/bans?lifted=everything+you+own", "").Body.String())
	assert.Nil(t, find(doc, func(n *html.Node) bool { return attr(n, "id") == "lifted" }), "only a subject is said to be lifted")
	assert.Equal(t, "Your blocks", text(find(doc, func(n *html.Node) bool { return n.Data == "h1" })))
	w := do(h, "b", "GET", "/ui/bans?lang=de", "")
	assert.Contains(t, w.Body.String(), "bob@198.51.100.60")
	assert.NotContains(t, w.Body.String(), "carol@")
	doc = parse(t, do(h, "op", "GET", "/ui/bans", "").Body.String())
	assert.Equal(t, "All blocks", text(find(doc, func(n *html.Node) bool { return n.Data == "h1" })), "an operator's list is everyone's")
	w = do(h, "a", "GET", "/", "")
	assert.Equal(t, http.StatusSeeOther, w.Code)
	assert.Equal(t, "/ui/bans", w.Header().Get("Location"))
}

// A record made again after a lift shows that lift: when, by whom, and
// what was said fixed.
func TestRecordPageLifts(t *testing.T) {
	f := newFixture(t, ban.Policy{})
	h := f.handler(t, banhttp.Options{})
	path := "/bans/carol@" + office
	at := f.clock.Now().UTC().Format("2006-01-02 15:04:05 UTC")
	require.Equal(t, http.StatusNoContent, do(h, "a", "DELETE", path+"?fixed=credential-typo", "").Code)
	f.typo(t, office, "carol") // it came back
	doc := parse(t, do(h, "a", "GET", "/ui"+path, "").Body.String())
	assert.Equal(t, at+", by you; said fixed: Mistyped password or account name",
		text(find(doc, func(n *html.Node) bool { return n.Data == "li" && attr(n.Parent, "id") == "lifts" })))
	doc = parse(t, do(h, "op", "GET", "/ui"+path+"?lang=de", "").Body.String())
	assert.Contains(t, text(find(doc, func(n *html.Node) bool { return attr(n, "id") == "lifts" })), "von einer anderen Anmeldung")
}

// A guard's form offers what fits a guard, adding a device, and the API
// names it when a customer's lift says something else.
func TestLiftGuard(t *testing.T) {
	f := newFixture(t, ban.Policy{})
	f.send(t, office2, healthy, deskUA, "REGISTER", "alice", 200)
	for i := range 5 {
		f.send(t, office2, 5070, softUA, "REGISTER", string(rune('u'+i)), 403)
	}
	r, ok := f.g.Record(sub(t, office2))
	require.True(t, ok, "no guard; have %+v", f.g.Bans())
	require.Equal(t, ban.ScopeGuard, r.Scope)
	f.clock.Advance(time.Second)
	refused := detect.Event{Source: netip.AddrPortFrom(netip.MustParseAddr(office2), 5080), Transport: "udp", Method: "REGISTER",
		Account: "bob", Credentials: true, Proven: true, Status: 403, Guarded: true, UserAgent: deskUA}
	require.NoError(t, f.g.Observe(context.Background(), &refused))
	h := f.handler(t, banhttp.Options{})
	doc := parse(t, do(h, "a", "GET", "/ui/bans/"+office2, "").Body.String())
	row := find(doc, func(n *html.Node) bool { return n.Data == "tr" && attr(n, "data-port") == "5080" })
	assert.Equal(t, "false", attr(row, "data-suspect"))
	assert.Contains(t, text(row), "New: refused by the guard until it is lifted")
	assert.Contains(t, text(row), "(and 1 refused unchecked by the guard)")
	var offered []string
	for _, o := range findAll(doc, func(n *html.Node) bool { return n.Data == "option" && attr(n, "value") != "" }) {
		offered = append(offered, attr(o, "value")+": "+text(o))
	}
	assert.Equal(t, []string{"new-device: Nothing: I am adding a new device here"}, offered)
	w := do(h, "a", "DELETE", "/bans/"+office2+"?fixed=credential-typo", "")
	assert.Equal(t, http.StatusBadRequest, w.Code)
	assert.Contains(t, w.Body.String(), "?fixed=new-device")
	assert.Equal(t, http.StatusNoContent, do(h, "a", "DELETE", "/bans/"+office2+"?fixed=new-device", "").Code)
}

// TestSharedAddress: alice's and bob's phones, two customers', log in from
// one address, a carrier-grade NAT; then a device behind it guesses
// passwords and the address is guarded. Each sees the guard (one of their
// devices logged in there) and, with Viewer.Account, nothing of the
// other's nor of the guesser's, unless the guesser used their account.
func TestSharedAddress(t *testing.T) {
	const nat, nat2 = "198.51.100.70", "198.51.100.71"
	f := newFixture(t, ban.Policy{})
	guessed := map[string][]string{nat: {"u0", "u1", "u2", "u3", "u4"}, nat2: {"u0", "alice", "u2", "u3", "u4"}}
	for _, site := range []string{nat, nat2} {
		f.send(t, site, healthy, deskUA, "REGISTER", "alice", 200)
		f.send(t, site, 5064, "Grandstream GXP2170", "REGISTER", "bob", 200)
		for _, a := range guessed[site] {
			f.send(t, site, 6000, softUA, "REGISTER", a, 403)
		}
		r, ok := f.g.Record(sub(t, site))
		require.True(t, ok, "no guard at %s; have %+v", site, f.g.Bans())
		require.Equal(t, ban.ScopeGuard, r.Scope)
	}
	// Owned as a registrar would: a device of the account logged in there.
	h := sharedHandler(t, f.g)
	get := func(viewer, site string) ban.Record { return getRecord(t, h, viewer, site) }

	whole := get("whole", nat)
	require.Len(t, whole.Diagnosis.Devices, 3, "without Account, everything: %+v", whole.Diagnosis.Devices)
	assert.NotEmpty(t, whole.Evidence.UserAgents)

	for _, who := range []string{"alice", "bob"} {
		w := do(h, who, "GET", "/bans/"+nat, "")
		require.Equal(t, http.StatusOK, w.Code)
		other := map[string]string{"alice": "bob", "bob": "alice"}[who]
		for _, leak := range []string{`"` + other + `"`, "u1", softUA, "Grandstream", "6000", whole.Diagnosis.Summary} {
			if who == "bob" && leak == "Grandstream" {
				continue // bob's own phone
			}
			assert.NotContains(t, w.Body.String(), leak, "%s reads another's", who)
		}
		r := get(who, nat)
		require.Len(t, r.Diagnosis.Devices, 1)
		assert.Equal(t, []string{who}, r.Diagnosis.Devices[0].Accounts)
		assert.Empty(t, r.Evidence.Accounts)
		assert.Contains(t, r.Diagnosis.Summary, "someone else's")
		assert.Equal(t, ban.CauseAttack, r.Diagnosis.Cause, "the cause is no one's secret")
	}
	doc := parse(t, do(h, "alice", "GET", "/ui/bans/"+nat+"?lang=de", "").Body.String())
	assert.Equal(t, "Geräte an dieser Adresse, die keines Ihrer Konten benutzt haben: 2, nicht gezeigt.",
		text(find(doc, func(n *html.Node) bool { return attr(n, "id") == "hidden" })))
	assert.Contains(t, text(find(doc, func(n *html.Node) bool { return attr(n, "id") == "summary" })), "das eines anderen")

	// At nat2 the guesser used alice's account: alice reads the whole
	// diagnosis, but not bob's phone nor the other names guessed.
	r, whole2 := get("alice", nat2), get("whole", nat2)
	assert.Equal(t, whole2.Diagnosis.Summary, r.Diagnosis.Summary)
	require.NotEmpty(t, whole2.Evidence.Accounts)
	for _, a := range r.Evidence.Accounts {
		assert.Equal(t, "alice", a, "of %v", whole2.Evidence.Accounts)
	}
	require.Len(t, r.Diagnosis.Devices, 2)
	for _, d := range r.Diagnosis.Devices {
		assert.Equal(t, []string{"alice"}, d.Accounts, "port %d", d.Port)
	}
	assert.Contains(t, r.Evidence.UserAgents, softUA)
	r = get("bob", nat2)
	assert.Contains(t, r.Diagnosis.Summary, "someone else's")
	assert.Len(t, r.Diagnosis.Devices, 1)

	// Lifting works as before; who lifted is bob's to know.
	require.Equal(t, http.StatusNoContent, do(h, "bob", "DELETE", "/bans/"+nat2+"?fixed=new-device", "").Code)
	for _, a := range guessed[nat2] {
		f.send(t, nat2, 6000, softUA, "REGISTER", a, 403)
	}
	r = get("alice", nat2)
	require.Len(t, r.Lifts, 1)
	assert.Empty(t, r.Lifts[0].By)
	assert.Equal(t, "bob", get("bob", nat2).Lifts[0].By)
}

// sharedHandler serves g to the customers alice and bob, each owning the
// records at the addresses where one of their devices logged in, as a
// registrar would, and with Viewer.Account; and to "whole", alice without
// it.
func sharedHandler(t *testing.T, g *ban.Guard) *banhttp.Handler {
	customer := func(name string, redact bool) banhttp.Viewer {
		v := banhttp.Customer(name, func(r *ban.Record) bool {
			for _, d := range r.Diagnosis.Devices {
				if d.Successes > 0 && slices.Contains(d.Accounts, name) {
					return true
				}
			}
			return false
		})
		if redact {
			v.Account = func(a string) bool { return a == name }
		}
		return v
	}
	viewers := map[string]banhttp.Viewer{"alice": customer("alice", true), "bob": customer("bob", true), "whole": customer("alice", false)}
	h, err := banhttp.New(g, banhttp.Options{Authorize: func(r *http.Request) (banhttp.Viewer, error) {
		return viewers[r.Header.Get("X-Viewer")], nil
	}})
	require.NoError(t, err)
	return h
}

func getRecord(t *testing.T, h http.Handler, viewer, subject string) ban.Record {
	t.Helper()
	w := do(h, viewer, "GET", "/bans/"+subject, "")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	var r ban.Record
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &r))
	return r
}

// directory knows alice and bob.
type directory struct{}

func (directory) Account(name string) ban.AccountInfo {
	return ban.AccountInfo{Exists: name == "alice" || name == "bob"}
}

func (directory) Similar(name string) (string, bool) {
	return ban.Closest(name, slices.Values([]string{"alice", "bob"}))
}

// TestSharedAddressTypo: a phone of alice's behind a shared address
// mistypes her account name; its block names "alice" as the likely
// account, so alice reads it, less bob's phone, and bob, whose phone logs
// in there too, reads that another's device caused it.
func TestSharedAddressTypo(t *testing.T) {
	const nat = "198.51.100.70"
	clock := fakeclock.New(time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC))
	g, err := ban.New(ban.Options{Logger: slog.New(slog.DiscardHandler), Now: clock.Now, Directory: directory{}})
	require.NoError(t, err)
	send := func(port uint16, agent, account string, status int) {
		t.Helper()
		clock.Advance(time.Second)
		ev := detect.Event{Source: netip.AddrPortFrom(netip.MustParseAddr(nat), port), Transport: "udp", Method: "REGISTER",
			Account: account, Credentials: true, Proven: true, Status: status, UserAgent: agent, UnknownAccount: status == 404}
		require.NoError(t, g.Observe(context.Background(), &ev))
	}
	send(healthy, deskUA, "alice", 200)
	send(5064, "Grandstream GXP2170", "bob", 200)
	for range 5 {
		send(suspect, softUA, "alcie", 404)
	}
	h := sharedHandler(t, g)
	whole := getRecord(t, h, "whole", "alcie@"+nat)
	require.Equal(t, ban.CauseTypo, whole.Diagnosis.Cause)
	require.Equal(t, "alice", whole.Diagnosis.DidYouMean)

	r := getRecord(t, h, "alice", "alcie@"+nat)
	assert.Equal(t, whole.Diagnosis.Summary, r.Diagnosis.Summary)
	assert.Equal(t, "alice", r.Diagnosis.DidYouMean)
	require.Len(t, whole.Diagnosis.Devices, 3)
	require.Len(t, r.Diagnosis.Devices, 2, "the mistyping softphone and the desk phone, not bob's")
	for _, d := range r.Diagnosis.Devices {
		assert.NotContains(t, d.Accounts, "bob")
	}

	r = getRecord(t, h, "bob", "alcie@"+nat)
	assert.Empty(t, r.Diagnosis.DidYouMean, "alice is not bob's to know")
	assert.Contains(t, r.Diagnosis.Summary, "someone else's")
	require.Len(t, r.Diagnosis.Devices, 1)
	assert.Equal(t, []string{"bob"}, r.Diagnosis.Devices[0].Accounts)
}
