package ban

import (
	"cmp"
	"container/heap"
	"slices"

	"github.com/sipban/sipban/detect"
)

// Page returns up to limit active records whose subjects sort after the
// subject after (the zero Subject: from the start), in subject order, and
// whether more follow. Whatever the number of records, it holds only limit
// of them: pass the last subject returned to read the next page. Subjects
// sort by address, then prefix length, then account; accounts anywhere
// ("alice@*") come last.
func (g *Guard) Page(after detect.Subject, limit int) (recs []Record, more bool) {
	return g.PageIn(after, limit, "en")
}

// PageIn is Page with the diagnoses in lang (see Language).
func (g *Guard) PageIn(after detect.Subject, limit int, lang string) (recs []Record, more bool) {
	if limit <= 0 {
		return nil, false
	}
	now := g.now()
	g.mu.RLock()
	// The limit smallest subjects after the cursor, largest on top; the
	// records are read in the order they lie in memory.
	ns := now.UnixNano()
	h := &pageHeap{}
	g.tab.all(func(e *entry) bool {
		if !e.active(ns) {
			return true
		}
		sub := e.subject()
		if after.IsValid() && compareSubjects(sub, after) <= 0 {
			return true
		}
		if h.Len() < limit {
			heap.Push(h, paged{sub, e})
			return true
		}
		more = true
		if compareSubjects(sub, h.es[0].sub) < 0 {
			h.es[0] = paged{sub, e}
			heap.Fix(h, 0)
		}
		return true
	})
	us := make([]unpacked, len(h.es))
	for i, p := range h.es {
		us[i] = g.unpack(p.e)
	}
	g.mu.RUnlock()
	recs = make([]Record, len(us))
	for i, u := range us {
		recs[i] = g.explain(u, lang)
	}
	slices.SortFunc(recs, func(a, b Record) int { return compareSubjects(a.Subject, b.Subject) })
	return recs, more
}

func compareSubjects(a, b detect.Subject) int {
	if c := cmp.Compare(boolInt(a.Anywhere()), boolInt(b.Anywhere())); c != 0 {
		return c
	}
	if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()); c != 0 {
		return c
	}
	return cmp.Compare(a.Account, b.Account)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// pageHeap keeps the largest subject on top.
// paged keeps a subject unpacked while it competes for a place on the page.
type paged struct {
	sub detect.Subject
	e   *entry
}

type pageHeap struct{ es []paged }

func (h *pageHeap) Len() int { return len(h.es) }
func (h *pageHeap) Less(i, j int) bool {
	return compareSubjects(h.es[i].sub, h.es[j].sub) > 0
}
func (h *pageHeap) Swap(i, j int) { h.es[i], h.es[j] = h.es[j], h.es[i] }
func (h *pageHeap) Push(x any)    { h.es = append(h.es, x.(paged)) }
func (h *pageHeap) Pop() any {
	p := h.es[len(h.es)-1]
	h.es = h.es[:len(h.es)-1]
	return p
}
