package banhttp

import (
	"bytes"
	"embed"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/detect"
)

//go:embed templates/*.html
var templateFS embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"subjectPath": func(s detect.Subject) string { return "/ui/bans/" + url.PathEscape(s.String()) },
	"when":        func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"percent":     func(f float64) float64 { return f * 100 },
}).ParseFS(templateFS, "templates/*.html"))

// view is what every page shows: its language, the links to the others,
// and who is looking.
type view struct {
	texts
	Title  string
	Lang   string
	Langs  []langLink
	Viewer Viewer
}

// Mine renders key as the viewer reads it: an operator sees every
// customer's records, not their own (key + ".all").
func (v view) Mine(key string) string {
	if v.Viewer.Operator {
		return v.T(key + ".all")
	}
	return v.T(key)
}

// LiftBy says who made an earlier lift, as the viewer knows them.
func (v view) LiftBy(n ban.LiftNote) string {
	switch {
	case n.Operator:
		return v.T("lift.by.operator")
	case n.By == v.Viewer.Name:
		return v.T("lift.by.you")
	}
	return v.T("lift.by.other")
}

type langLink struct {
	Tag, Name, Href string
	Current         bool
}

func (h *Handler) view(r *http.Request) view {
	lang := language(h.g, r)
	v := view{texts: h.textsIn(lang), Lang: lang, Viewer: viewerOf(r)}
	// The page's languages the diagnosis comes in too.
	for _, tag := range slices.Sorted(maps.Keys(h.texts)) {
		if h.g.Language(tag) != tag {
			continue
		}
		q := r.URL.Query()
		q.Set("lang", tag)
		q.Del("lifted")
		name := v.T("lang." + tag)
		if name == "" {
			name = tag
		}
		v.Langs = append(v.Langs, langLink{Tag: tag, Name: name, Href: r.URL.Path + "?" + q.Encode(), Current: tag == lang})
	}
	return v
}

type listData struct {
	view
	Records []ban.Record
	Next    string // the next page's URL, if more follow
	Lifted  string // the subject just lifted
}

func (h *Handler) listPage(w http.ResponseWriter, r *http.Request) {
	v := h.view(r)
	after, limit, err := cursor(r)
	if err != nil {
		h.errorPage(w, v, http.StatusBadRequest, err.Error())
		return
	}
	if r.URL.Query().Get("limit") == "" {
		limit = 100
	}
	v.Title = v.Mine("title.list")
	d := listData{view: v}
	if sub, err := detect.ParseSubject(r.URL.Query().Get("lifted")); err == nil {
		d.Lifted = sub.String() // a subject, not a message a link could make up
	}
	var next detect.Subject
	d.Records, next = h.page(v.Viewer, after, limit, v.Lang)
	if next.IsValid() {
		d.Next = "/ui/bans?" + url.Values{"after": {next.String()}, "limit": {strconv.Itoa(limit)}, "lang": {v.Lang}}.Encode()
	}
	render(w, http.StatusOK, "list.html", d)
}

type recordData struct {
	view
	Rec      ban.Record
	Causes   []string
	Selected string
	Token    string
	// Liftable is false for an attack a customer cannot lift: the page
	// says so instead of offering the form.
	Liftable bool
	// LiftsLeft is how many more self-service lifts the customer has.
	LiftsLeft int
	Refusal   string
	// Hidden counts the devices at the address that used none of the
	// customer's accounts, left out.
	Hidden int
}

func (h *Handler) recordPage(w http.ResponseWriter, r *http.Request) {
	v := h.view(r)
	rec, hidden, ok := h.record(w, r, v.Lang, h.errorFor(v))
	if ok {
		render(w, http.StatusOK, "record.html", h.recordData(v, rec, hidden, ""))
	}
}

func (h *Handler) recordData(v view, rec ban.Record, hidden int, refusal string) recordData {
	v.Title = v.T("title.record", rec.Subject.String())
	d := recordData{view: v, Rec: rec, Causes: rec.Fixes(), Token: h.token(v.Viewer, rec.Subject), Refusal: refusal, Hidden: hidden,
		Liftable: v.Viewer.Operator || rec.SelfLiftable(), LiftsLeft: h.g.SelfLiftsLeft(v.Viewer.Name)}
	for _, c := range d.Causes {
		if c == rec.Diagnosis.Cause {
			d.Selected = c
		}
	}
	return d
}

// liftForm serves the form's POST: the token, then the lift; a lift
// refused shows the page again with why.
func (h *Handler) liftForm(w http.ResponseWriter, r *http.Request) {
	v := h.view(r)
	rec, hidden, ok := h.record(w, r, v.Lang, h.errorFor(v))
	if !ok {
		return
	}
	if !h.tokenOK(v.Viewer, rec.Subject, r.PostFormValue("token")) {
		render(w, http.StatusForbidden, "record.html", h.recordData(v, rec, hidden, v.T("refused.token")))
		return
	}
	err := h.liftAs(r.Context(), v.Viewer, rec.Subject, r.PostFormValue("fixed"))
	if err == nil {
		q := url.Values{"lifted": {rec.Subject.String()}, "lang": {v.Lang}}
		http.Redirect(w, r, "/ui/bans?"+q.Encode(), http.StatusSeeOther)
		return
	}
	st, _ := liftStatus(err, nil)
	key, ok := refusals[st]
	if !ok {
		// Lifted in memory; an enforcer failed to follow.
		h.errorPage(w, v, st, v.T("refused.failed"))
		return
	}
	render(w, st, "record.html", h.recordData(v, rec, hidden, v.T(key)))
}

// refusals name the page's message for each refused lift's status.
var refusals = map[int]string{http.StatusNotFound: "refused.notfound", http.StatusForbidden: "refused.attack",
	http.StatusTooManyRequests: "refused.limit", http.StatusBadRequest: "refused.fixed"}

type errorData struct {
	view
	Message string
}

// errorFor answers a page's 400 and 404 in v's language.
func (h *Handler) errorFor(v view) func(http.ResponseWriter, int, string) {
	return func(w http.ResponseWriter, status int, msg string) {
		if status == http.StatusNotFound {
			msg = v.T("refused.notfound")
		}
		h.errorPage(w, v, status, msg)
	}
}

func (h *Handler) errorPage(w http.ResponseWriter, v view, status int, msg string) {
	render(w, status, "error.html", errorData{v, msg})
}

// render executes a template into a buffer first, so that a failure
// cannot send half a page with a 200.
func render(w http.ResponseWriter, status int, name string, data any) {
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, name, data); err != nil {
		http.Error(w, "banhttp: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = b.WriteTo(w) // the client went away; nothing to tell it
}
