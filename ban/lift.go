package ban

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sipban/sipban/detect"
)

// Errors of a customer's lift.
var (
	// ErrAttack: the record is an attack; only an operator lifts it.
	ErrAttack = errors.New("ban: an attack is lifted by an operator only")
	// ErrLiftLimit: the customer used up Policy.SelfLifts.
	ErrLiftLimit = errors.New("ban: self-service lifts used up for now; an operator can lift it")
	// ErrFixedMissing: a customer's lift must say which cause was fixed,
	// one of Record.Fixes.
	ErrFixedMissing = errors.New("ban: say which cause was fixed")
)

// FixableCauses lists the causes a customer may say they fixed: every
// diagnosis cause but an attack.
func FixableCauses() []string {
	return []string{CauseOutdated, CauseTypo, CauseTestDevice, CausePBX, CauseScript}
}

// FixNewDevice is what a customer lifting a guard says: there is nothing
// of theirs to fix, they are adding a device the guard refuses, which
// enrols at its first login.
const FixNewDevice = "new-device"

// Fixes lists what a customer may say to lift r: FixNewDevice for a
// guard, one of FixableCauses for any other record.
func (r *Record) Fixes() []string {
	if r.Scope == ScopeGuard {
		return []string{FixNewDevice}
	}
	return FixableCauses()
}

// SelfLiftable reports whether a customer may lift r (within their
// limits): anything but an attack, and a guard, which refuses only
// strangers.
func (r *Record) SelfLiftable() bool {
	return r.Diagnosis.Cause != CauseAttack || r.Scope == ScopeGuard
}

// LiftRequest says who lifts a record, and what they fixed.
type LiftRequest struct {
	// By names who lifts, for the record: a customer, an operator.
	By string
	// Operator lifts any record, past any limit, with no probation.
	Operator bool
	// Fixed is what the customer says they fixed, one of Record.Fixes: a
	// Diagnosis cause, or FixNewDevice.
	Fixed string
}

// LiftNote is one lift, kept with the subject.
type LiftNote struct {
	By       string    `json:"by,omitempty"`
	Operator bool      `json:"operator"`
	Fixed    string    `json:"fixed,omitempty"`
	Cause    string    `json:"cause"` // the diagnosis at the lift
	At       time.Time `json:"at"`
}

const liftNotes = 4 // per subject, the latest

// lifts remembers customers' lifts: what each subject was lifted for, how
// many lifts each customer made, and the subjects on probation. Each map is
// bounded by Policy.MaxBans; a full one forgets an arbitrary entry, which
// at worst gives a customer one lift more or one probation less.
type lifts struct {
	mu    sync.Mutex
	max   int
	notes map[detect.Subject][]LiftNote
	by    map[string][]time.Time
	prob  map[detect.Subject]probation
	nprob atomic.Int64
}

// probation is a customer's lift waiting to see whether its cause returns.
type probation struct {
	until time.Time
	cause detect.Cause
	flags uint8 // the lifted entry's
	guard bool  // the lifted entry was a guard: so is its repeat
	fails int
	first time.Time
	fixed string
}

func newLifts(max int) *lifts {
	return &lifts{max: max, notes: map[detect.Subject][]LiftNote{}, by: map[string][]time.Time{}, prob: map[detect.Subject]probation{}}
}

func room[K comparable, V any](m map[K]V, k K, max int) {
	if _, ok := m[k]; ok || len(m) < max {
		return
	}
	for x := range m {
		delete(m, x)
		return
	}
}

// LiftAs ends the record on exactly sub as req's lifter. An operator lifts
// anything, as Lift does. A customer must say what they fixed (of a
// guard: that they add a device, FixNewDevice), cannot lift
// an attack (a guard, which refuses only strangers, they can), and has
// Policy.SelfLifts per Policy.SelfLiftPeriod; their lift starts a
// probation: if the cause comes back within Policy.Probation, the second
// proven failure makes the record again, two levels above the lifted one
// (one as for any repeat, one for the broken probation). Each lift is
// kept with the subject (Record.Lifts). An operator's lift never waits on
// the Directory: its note's cause is judged from the evidence alone.
func (g *Guard) LiftAs(ctx context.Context, sub detect.Subject, req LiftRequest) error {
	now := g.now()
	// A customer's cause is judged outside the lock: it asks the caller's
	// Directory, which may be slow or down.
	g.mu.RLock()
	e := g.tab.get(sub)
	if e == nil || !e.active(now.UnixNano()) {
		g.mu.RUnlock()
		return fmt.Errorf("lift %v: %w", sub, ErrNotFound)
	}
	u, gen := g.unpack(e), e.gen
	g.mu.RUnlock()
	r := u.r
	dir := g.dir
	if req.Operator {
		dir = nil
	}
	r.Diagnosis.Cause = classify(&r, u.flags, dir).cause
	var err error
	if !req.Operator {
		switch {
		case !slices.Contains(r.Fixes(), req.Fixed):
			err = fmt.Errorf("%w, one of %s, not %q", ErrFixedMissing, strings.Join(r.Fixes(), ", "), req.Fixed)
		case !r.SelfLiftable():
			err = ErrAttack
		}
	}
	g.mu.Lock()
	switch {
	case err != nil:
	case e.gen != gen || !e.active(now.UnixNano()):
		err = ErrNotFound // lifted, or ended, meanwhile
	case !req.Operator && !g.lifts.take(req.By, now, g.pol.SelfLifts, g.pol.SelfLiftPeriod):
		err = ErrLiftLimit
	}
	if err != nil {
		g.mu.Unlock()
		return fmt.Errorf("lift %v: %w", sub, err)
	}
	h := g.drop(e)
	g.mu.Unlock()
	g.stats.lifted.Add(1)
	note := LiftNote{By: req.By, Operator: req.Operator, Fixed: req.Fixed, Cause: r.Diagnosis.Cause, At: now.UTC()}
	g.lifts.note(sub, note)
	var prob *Probation
	if !req.Operator {
		p := probation{until: now.Add(g.pol.Probation), cause: h.cause, flags: u.flags, guard: r.Scope == ScopeGuard, fixed: req.Fixed}
		g.lifts.probe(sub, p)
		prob = &Probation{Until: p.until, Cause: p.cause, Device: p.flags&fDevice != 0, OthersOK: p.flags&fOthersOK != 0, Guard: p.guard, Fixed: p.fixed}
	}
	if g.persist != nil {
		g.persist.add(Change{Op: OpLift, Lift: StoredLift{Subject: sub, Note: note, Probation: prob}}, ref{}, now)
	}
	if g.share != nil {
		g.share.add(Change{Op: OpEnd, Offence: Offence{Subject: sub, Level: h.level, End: h.until, Proven: u.r.Proven}}, ref{}, now)
	}
	g.log.Info("sipban: lifted", "subject", sub, "cause", h.cause, "by", req.By, "operator", req.Operator, "fixed", req.Fixed)
	if err := g.unenforce(ctx, []held{h}, true); err != nil {
		return fmt.Errorf("lift %v: %w", sub, err)
	}
	return nil
}

// SelfLiftsLeft returns how many more self-service lifts who may make now:
// Policy.SelfLifts less those of the last SelfLiftPeriod.
func (g *Guard) SelfLiftsLeft(who string) int {
	now := g.now()
	l := g.lifts
	l.mu.Lock()
	defer l.mu.Unlock()
	used := 0
	for _, t := range l.by[who] {
		if now.Sub(t) < g.pol.SelfLiftPeriod {
			used++
		}
	}
	return max(g.pol.SelfLifts-used, 0)
}

// take counts one lift by who at now if the limit allows it.
func (l *lifts) take(who string, now time.Time, limit int, period time.Duration) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := slices.DeleteFunc(l.by[who], func(t time.Time) bool { return now.Sub(t) >= period })
	if len(ts) >= limit {
		l.by[who] = ts
		return false
	}
	room(l.by, who, l.max)
	l.by[who] = append(ts, now)
	return true
}

// counted counts again a lift by who at t, restored, if it still counts
// against the limit at now.
func (l *lifts) counted(who string, t, now time.Time, period time.Duration) {
	if now.Sub(t) >= period {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	room(l.by, who, l.max)
	l.by[who] = append(l.by[who], t)
}

func (l *lifts) note(sub detect.Subject, n LiftNote) {
	l.mu.Lock()
	defer l.mu.Unlock()
	room(l.notes, sub, l.max)
	ns := append(l.notes[sub], n)
	l.notes[sub] = ns[max(len(ns)-liftNotes, 0):]
}

func (l *lifts) probe(sub detect.Subject, p probation) {
	l.mu.Lock()
	defer l.mu.Unlock()
	room(l.prob, sub, l.max)
	l.prob[sub] = p
	l.nprob.Store(int64(len(l.prob)))
}

// notesOf returns the lifts kept for sub.
func (l *lifts) notesOf(sub detect.Subject) []LiftNote {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.notes[sub])
}

// repeated reports whether a record for sub of cause c now repeats a
// customer's lift on probation, and ends that probation.
func (l *lifts) repeated(sub detect.Subject, c detect.Cause, now time.Time) bool {
	if l.nprob.Load() == 0 {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.prob[sub]
	if !ok {
		return false
	}
	delete(l.prob, sub)
	l.nprob.Store(int64(len(l.prob)))
	return p.cause == c && now.Before(p.until)
}

// repeat counts ev, a proven failure, against the probations of the
// subjects it falls under, and returns the finding that makes a record
// again at the second.
func (g *Guard) repeat(ev *detect.Event, subs []detect.Subject) (detect.Finding, bool) {
	l := g.lifts
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, sub := range subs {
		p, ok := l.prob[sub]
		if !ok {
			continue
		}
		if !ev.Time.Before(p.until) {
			delete(l.prob, sub)
			l.nprob.Store(int64(len(l.prob)))
			continue
		}
		if p.fails++; p.fails == 1 {
			p.first = ev.Time
		}
		l.prob[sub] = p
		if p.fails < 2 {
			continue
		}
		evid := detect.Evidence{Count: p.fails, First: p.first, Last: ev.Time, Ports: []uint16{ev.Source.Port()},
			Detail: fmt.Sprintf("%d failures in the probation after a customer's lift (fixed: %s)", p.fails, p.fixed)}
		if ev.Account != "" {
			evid.Accounts = []string{ev.Account}
		}
		if ev.UserAgent != "" {
			evid.UserAgents = []string{ev.UserAgent}
		}
		return detect.Finding{Cause: p.cause, Subject: sub, Device: p.flags&fDevice != 0, OthersOK: p.flags&fOthersOK != 0,
			Guard: p.guard, Proven: true, Evidence: evid}, true
	}
	return detect.Finding{}, false
}
