package banhttp

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/detect"
)

const (
	// DefaultLimit is the page size of GET /bans without ?limit=.
	DefaultLimit = 1000
	// MaxLimit is the largest ?limit= served.
	MaxLimit = 10_000
	// scanWindow is how many records one customer's page reads through to
	// find theirs: ban pages by subject, not by owner.
	scanWindow = 10_000
)

// ErrNoAuthorize: New was given neither Authorize nor Unauthenticated.
var ErrNoAuthorize = errors.New("banhttp: no Authorize; set Options.Unauthenticated for an operator API on a private address")

// Options configure a Handler.
type Options struct {
	// Authorize tells who sent a request. An error answers 401 with its
	// message (and Challenge, if set), before anything is read. Required
	// unless Unauthenticated.
	Authorize func(*http.Request) (Viewer, error)
	// Unauthenticated serves every request as an operator named
	// "operator", without asking: for an API bound to a private address
	// only. It is ignored when Authorize is set.
	Unauthenticated bool
	// Challenge is the WWW-Authenticate header of a 401, such as
	// `Basic realm="sipban", charset="UTF-8"`; empty sends none.
	Challenge string
	// Hosts are the Host headers served: "name" (any port) or
	// "name:port". Nil means localhost, loopback addresses and the
	// address the request arrived on, written as an address: names that
	// DNS rebinding cannot point elsewhere.
	Hosts []string
	// Secret keys the form's tokens; nil means a random one per Handler,
	// so that forms outlive neither a restart nor another replica.
	Secret []byte
	// Texts adds or replaces the page's languages, by tag; keys missing
	// from one fall back to English. The diagnosis's own languages are the
	// Guard's (ban.Options.Messages).
	Texts map[string]Texts
}

// Handler serves a Guard's records. It is safe for concurrent use.
type Handler struct {
	g         *ban.Guard
	authorize func(*http.Request) (Viewer, error)
	challenge string
	hosts     []string
	secret    []byte
	texts     map[string]Texts
	mux       *http.ServeMux
	cop       *http.CrossOriginProtection
}

var _ http.Handler = (*Handler)(nil)

// New returns a Handler over g. It refuses to build one that would serve
// everyone as an operator unless opts.Unauthenticated says so.
func New(g *ban.Guard, opts Options) (*Handler, error) {
	if g == nil {
		return nil, errors.New("banhttp: nil Guard")
	}
	h := &Handler{g: g, authorize: opts.Authorize, challenge: opts.Challenge, secret: opts.Secret, texts: pageTexts(opts.Texts)}
	if h.authorize == nil {
		if !opts.Unauthenticated {
			return nil, ErrNoAuthorize
		}
		h.authorize = func(*http.Request) (Viewer, error) { return Operator("operator"), nil }
	}
	for _, s := range opts.Hosts {
		h.hosts = append(h.hosts, strings.ToLower(s))
	}
	if h.secret == nil {
		h.secret = make([]byte, 32)
		rand.Read(h.secret)
	}
	h.cop = http.NewCrossOriginProtection()
	h.mux = http.NewServeMux()
	h.mux.HandleFunc("GET /bans", h.list)
	h.mux.HandleFunc("GET /bans/{subject...}", h.explain)
	h.mux.HandleFunc("DELETE /bans/{subject...}", h.lift)
	h.mux.HandleFunc("GET /stats", h.stats)
	h.mux.HandleFunc("GET /ui/bans", h.listPage)
	h.mux.HandleFunc("GET /ui/bans/{subject...}", h.recordPage)
	h.mux.HandleFunc("POST /ui/bans/{subject...}", h.liftForm)
	h.mux.Handle("GET /{$}", http.RedirectHandler("/ui/bans", http.StatusSeeOther))
	return h, nil
}

type viewerKey struct{}

// ServeHTTP checks the Host, the origin of state changes and the viewer,
// then serves the request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.hostAllowed(r) {
		writeError(w, http.StatusForbidden, fmt.Sprintf("host %q not served", r.Host))
		return
	}
	if err := h.cop.Check(r); err != nil {
		writeError(w, http.StatusForbidden, "cross-origin request refused")
		return
	}
	v, err := h.authorize(r)
	if err != nil {
		if h.challenge != "" {
			w.Header().Set("WWW-Authenticate", h.challenge)
		}
		if strings.HasPrefix(r.URL.Path, "/ui/") {
			// A person at the page reads why in their language.
			v := h.view(r)
			h.errorPage(w, v, http.StatusUnauthorized, v.T("refused.login"))
			return
		}
		writeError(w, http.StatusUnauthorized, err.Error())
		return
	}
	h.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), viewerKey{}, v)))
}

// viewerOf returns who sent r: no one before they are authorized.
func viewerOf(r *http.Request) Viewer {
	v, _ := r.Context().Value(viewerKey{}).(Viewer)
	return v
}

// hostAllowed reports whether r's Host is one h serves.
func (h *Handler) hostAllowed(r *http.Request) bool {
	host := strings.ToLower(r.Host)
	name := host
	if n, _, err := net.SplitHostPort(host); err == nil {
		name = n
	}
	if h.hosts != nil {
		return slices.Contains(h.hosts, host) || slices.Contains(h.hosts, name)
	}
	if name == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(name, "["), "]"))
	if err != nil {
		return false
	}
	if a.Unmap().IsLoopback() {
		return true
	}
	local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return false
	}
	ap, err := netip.ParseAddrPort(local.String())
	return err == nil && ap.Addr().Unmap() == a.Unmap()
}

// list serves GET /bans: the viewer's records after ?after=, up to ?limit=.
func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	after, limit, err := cursor(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	recs, next := h.page(viewerOf(r), after, limit, language(h.g, r))
	if next.IsValid() {
		v := url.Values{"after": {next.String()}, "limit": {strconv.Itoa(limit)}}
		w.Header().Set("Link", fmt.Sprintf(`</bans?%s>; rel="next"`, v.Encode()))
	}
	if recs == nil {
		recs = []ban.Record{}
	}
	writeJSON(w, http.StatusOK, recs)
}

// Stats is what GET /stats answers an operator: the Guard's counts, and
// how its writes to the state store fare.
type Stats struct {
	ban.Stats
	Store StoreStats `json:"store"`
}

// StoreStats are ban.StoreStats, with the error as text.
type StoreStats struct {
	Pending  int    `json:"pending"`
	Dropped  int64  `json:"dropped"`
	Batches  int64  `json:"batches"`
	Failures int64  `json:"failures"`
	Unkept   int64  `json:"unkept_failures"`
	Error    string `json:"error,omitempty"`
}

func (h *Handler) stats(w http.ResponseWriter, r *http.Request) {
	if !viewerOf(r).Operator {
		writeError(w, http.StatusForbidden, "operators only")
		return
	}
	ss := h.g.StoreStats()
	out := Stats{Stats: h.g.Stats(), Store: StoreStats{Pending: ss.Pending, Dropped: ss.Dropped, Batches: ss.Batches,
		Failures: ss.Failures, Unkept: ss.Unkept}}
	if ss.Err != nil {
		out.Store.Error = ss.Err.Error()
	}
	writeJSON(w, http.StatusOK, out)
}

// cursor reads ?after= and ?limit=.
func cursor(r *http.Request) (detect.Subject, int, error) {
	limit := DefaultLimit
	q := r.URL.Query()
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxLimit {
			return detect.Subject{}, 0, fmt.Errorf("limit %q: want 1 to %d", v, MaxLimit)
		}
		limit = n
	}
	var after detect.Subject
	if v := q.Get("after"); v != "" {
		sub, err := detect.ParseSubject(v)
		if err != nil {
			return detect.Subject{}, 0, fmt.Errorf("after: %w", err)
		}
		after = sub
	}
	return after, limit, nil
}

// page returns up to limit of v's records after after, and the cursor of
// the next page (invalid at the end). A customer's page is what is theirs
// among the next scanWindow records of everyone's: the Guard walks its
// table once per request, and a page may hold fewer than limit records, or
// none, with a Link to go on.
func (h *Handler) page(v Viewer, after detect.Subject, limit int, lang string) ([]ban.Record, detect.Subject) {
	if v.Operator {
		recs, more := h.g.PageIn(after, limit, lang)
		if more && len(recs) > 0 {
			return recs, recs[len(recs)-1].Subject
		}
		return recs, detect.Subject{}
	}
	recs, more := h.g.PageIn(after, scanWindow, lang)
	var out []ban.Record
	for i := range recs {
		if !v.sees(&recs[i]) {
			continue
		}
		v.redact(&recs[i], h.textsIn(lang))
		out = append(out, recs[i])
		if len(out) == limit && (more || i < len(recs)-1) {
			return out, recs[i].Subject
		}
	}
	if more && len(recs) > 0 {
		return out, recs[len(recs)-1].Subject
	}
	return out, detect.Subject{}
}

// record returns the record on r's subject as the viewer may see it, and
// how many devices at its address were left out; if the viewer does not
// see it, it answers, by fail, 400 or 404, and returns false.
func (h *Handler) record(w http.ResponseWriter, r *http.Request, lang string, fail func(http.ResponseWriter, int, string)) (ban.Record, int, bool) {
	sub, err := detect.ParseSubject(r.PathValue("subject"))
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return ban.Record{}, 0, false
	}
	v := viewerOf(r)
	rec, ok := h.g.Explain(sub, lang)
	if !ok || !v.sees(&rec) {
		// Another's record reads as none: its existence is theirs too.
		fail(w, http.StatusNotFound, "no active ban on "+sub.String())
		return ban.Record{}, 0, false
	}
	return rec, v.redact(&rec, h.textsIn(lang)), true
}

// textsIn returns the page's strings in lang, English's if it has none.
func (h *Handler) textsIn(lang string) texts {
	if t, ok := h.texts[lang]; ok {
		return texts{t}
	}
	return texts{englishTexts}
}

func (h *Handler) explain(w http.ResponseWriter, r *http.Request) {
	if rec, _, ok := h.record(w, r, language(h.g, r), writeError); ok {
		writeJSON(w, http.StatusOK, rec)
	}
}

func (h *Handler) lift(w http.ResponseWriter, r *http.Request) {
	rec, _, ok := h.record(w, r, "en", writeError)
	if !ok {
		return
	}
	err := h.liftAs(r.Context(), viewerOf(r), rec.Subject, r.URL.Query().Get("fixed"))
	if err != nil {
		st, msg := liftStatus(err, rec.Fixes())
		writeError(w, st, msg)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// liftAs lifts sub as v: an operator's lift, or a customer's through
// ban's limits.
func (h *Handler) liftAs(ctx context.Context, v Viewer, sub detect.Subject, fixed string) error {
	return h.g.LiftAs(ctx, sub, ban.LiftRequest{By: v.Name, Operator: v.Operator, Fixed: fixed})
}

// liftStatus maps a lift's error to a status and a message.
func liftStatus(err error, fixes []string) (int, string) {
	switch {
	case errors.Is(err, ban.ErrNotFound):
		return http.StatusNotFound, err.Error()
	case errors.Is(err, ban.ErrFixedMissing):
		return http.StatusBadRequest, err.Error() + ": ?fixed=" + strings.Join(fixes, "|")
	case errors.Is(err, ban.ErrAttack):
		return http.StatusForbidden, err.Error()
	case errors.Is(err, ban.ErrLiftLimit):
		return http.StatusTooManyRequests, err.Error()
	}
	// Lifted in memory; an enforcer failed to follow.
	return http.StatusInternalServerError, err.Error()
}

// token is the form's CSRF token for v and sub.
func (h *Handler) token(v Viewer, sub detect.Subject) string {
	m := hmac.New(sha256.New, h.secret)
	fmt.Fprintf(m, "lift\x00%s\x00%t\x00%s", v.Name, v.Operator, sub)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (h *Handler) tokenOK(v Viewer, sub detect.Subject, tok string) bool {
	return hmac.Equal([]byte(tok), []byte(h.token(v, sub)))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away; nothing to tell it
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
