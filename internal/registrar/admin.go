package registrar

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/detect"
)

// Page sizes of GET /bans.
const (
	defaultPage = 1000
	maxPage     = 10_000
)

// AdminHandler returns the JSON API over g's bans:
//
//	GET    /bans            a page of active records (bans, account blocks, guards), in subject order
//	GET    /bans/{subject}  one record; 404 if there is none
//	DELETE /bans/{subject}  lift it; 204, or 404 if there is none
//
// GET /bans takes ?limit=N (default 1000, at most 10000) and ?after=SUBJECT,
// the last subject of the page before; when more follow, a Link header
// (rel="next") names the next page. Memory stays bounded by the limit
// whatever the number of bans.
//
// A subject is written as detect.Subject.String writes it: "203.0.113.7",
// "2001:db8::/64" or "alice@203.0.113.7"; it may be percent-encoded. An
// unreadable subject is answered 400. Errors are JSON objects {"error": "..."}.
// The API lifts bans: serve it on a private address only.
func AdminHandler(g *ban.Guard) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /bans", func(w http.ResponseWriter, r *http.Request) {
		limit := defaultPage
		if v := r.URL.Query().Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxPage {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("limit %q: want 1 to %d", v, maxPage))
				return
			}
			limit = n
		}
		var after detect.Subject
		if v := r.URL.Query().Get("after"); v != "" {
			sub, err := detect.ParseSubject(v)
			if err != nil {
				writeError(w, http.StatusBadRequest, "after: "+err.Error())
				return
			}
			after = sub
		}
		recs, more := g.Page(after, limit)
		if more && len(recs) > 0 {
			next := url.Values{"after": {recs[len(recs)-1].Subject.String()}, "limit": {strconv.Itoa(limit)}}
			w.Header().Set("Link", fmt.Sprintf(`</bans?%s>; rel="next"`, next.Encode()))
		}
		if recs == nil {
			recs = []ban.Record{}
		}
		writeJSON(w, http.StatusOK, recs)
	})
	mux.HandleFunc("GET /bans/{subject...}", func(w http.ResponseWriter, r *http.Request) {
		sub, ok := subject(w, r)
		if !ok {
			return
		}
		rec, found := g.Record(sub)
		if !found {
			writeError(w, http.StatusNotFound, "no active ban on "+sub.String())
			return
		}
		writeJSON(w, http.StatusOK, rec)
	})
	mux.HandleFunc("DELETE /bans/{subject...}", func(w http.ResponseWriter, r *http.Request) {
		sub, ok := subject(w, r)
		if !ok {
			return
		}
		err := g.Lift(r.Context(), sub)
		switch {
		case errors.Is(err, ban.ErrNotFound):
			writeError(w, http.StatusNotFound, "no active ban on "+sub.String())
		case err != nil:
			// Lifted in memory; an enforcer failed to follow.
			writeError(w, http.StatusInternalServerError, err.Error())
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
	return mux
}

// subject reads the {subject} path value, answering 400 if it is unreadable.
func subject(w http.ResponseWriter, r *http.Request) (detect.Subject, bool) {
	sub, err := detect.ParseSubject(r.PathValue("subject"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return detect.Subject{}, false
	}
	return sub, true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
