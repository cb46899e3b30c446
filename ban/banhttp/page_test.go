package banhttp_test

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/banhttp"
	"github.com/sipban/sipban/detect"
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
