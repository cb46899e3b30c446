package ban

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sipban/sipban/detect"
	"github.com/sipban/sipban/enforce"
)

// Errors a caller may branch on.
var (
	// ErrNotFound: no active ban has that subject.
	ErrNotFound = errors.New("ban: no such ban")
	// ErrTooManyBans: Policy.MaxBans active bans exist already.
	ErrTooManyBans = errors.New("ban: too many active bans")
)

// Options configure a Guard. The zero Options is a working configuration: the
// default policy, the standard detector and in-memory enforcement.
type Options struct {
	// Policy is the ban policy; the zero Policy is the default.
	Policy Policy
	// Detectors run after the standard detector, in order.
	Detectors []detect.Detector
	// NoStandard leaves the standard detector out, so that only Detectors run.
	NoStandard bool
	// Enforcers apply address-wide bans besides the Guard's own in-memory
	// enforcer, which is always present.
	Enforcers []enforce.Enforcer
	// Logger receives one line per ban, lift and enforcement error; nil means
	// slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// ResyncEvery is how often Run calls Resync, which puts back bans that
	// kernel enforcers lost; 0 means once a minute, a negative value never.
	ResyncEvery time.Duration
	// OnBan, if set, is called with a copy of each new ban's record once the
	// enforcers have applied it, from the goroutine whose Observe made it.
	// It must not call back into the Guard's Observe.
	OnBan func(Record)
}

// Guard turns events into bans: it runs the detectors, applies the policy,
// asks the enforcers to act, keeps a record of every ban and lifts bans when
// they expire or when asked. A Guard is safe for concurrent use. Construct one
// with New; call Run to lift expired bans as time passes.
type Guard struct {
	pol       *policy
	standard  *detect.Standard
	detectors []detect.Detector
	mem       *enforce.Memory
	enforcers []enforce.Enforcer // mem first
	log       *slog.Logger
	now       func() time.Time
	onBan     func(Record)
	resync    time.Duration // <= 0: Run does not resync

	// enf serializes changes to the enforcers, so that a ban installed
	// again (by decide or Resync) never lands after its own lift.
	enf sync.Mutex

	nsoft atomic.Int64 // active account blocks; lets AccountBlocked skip the lock

	mu      sync.RWMutex
	records map[detect.Subject]*entry
	expiry  expiryHeap
	history map[detect.Subject]offence
}

type entry struct {
	rec    Record
	hits   atomic.Int64
	pos    int       // index in the expiry heap
	pushed time.Time // when the enforcers last got the ban
}

// offence remembers a subject's last ban for escalation.
type offence struct {
	level int
	end   time.Time
}

// New returns a Guard configured by opts. It starts nothing.
func New(opts Options) (*Guard, error) {
	pol, err := opts.Policy.compile()
	if err != nil {
		return nil, err
	}
	g := &Guard{
		pol:     pol,
		log:     opts.Logger,
		now:     opts.Now,
		onBan:   opts.OnBan,
		resync:  opts.ResyncEvery,
		records: make(map[detect.Subject]*entry),
		history: make(map[detect.Subject]offence),
	}
	if g.log == nil {
		g.log = slog.Default()
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.resync == 0 {
		g.resync = time.Minute
	}
	if !opts.NoStandard {
		std, err := detect.NewStandard(opts.Policy.Limits)
		if err != nil {
			return nil, fmt.Errorf("ban: %w", err)
		}
		g.standard = std
		g.detectors = append(g.detectors, std)
	}
	for i, d := range opts.Detectors {
		if d == nil {
			return nil, fmt.Errorf("ban: detector %d is nil", i)
		}
	}
	g.detectors = append(g.detectors, opts.Detectors...)
	g.mem = enforce.NewMemory(g.now)
	g.enforcers = append([]enforce.Enforcer{g.mem}, opts.Enforcers...)
	for i, e := range opts.Enforcers {
		if e == nil {
			return nil, fmt.Errorf("ban: enforcer %d is nil", i)
		}
	}
	return g, nil
}

// Observe runs the detectors on ev and bans what the policy says. It returns
// an error for an event that cannot be judged (wrapping detect.ErrInvalidEvent)
// and for a ban that could not be fully applied; such a ban still holds in
// memory. Observe does not allocate for an event that makes no finding.
func (g *Guard) Observe(ctx context.Context, ev *detect.Event) error {
	if err := ev.Validate(); err != nil {
		return err
	}
	if ev.Time.IsZero() {
		ev.Time = g.now()
	}
	if g.pol.allowed(ev.Source.Addr().Unmap()) {
		return nil
	}
	var findings []detect.Finding
	for _, d := range g.detectors {
		findings = d.Observe(ev, findings)
	}
	var errs []error
	for i := range findings {
		if err := g.decide(ctx, &findings[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Banned reports whether addr is inside an address-wide ban. It is the read
// filter's hot path: one map lookup per prefix length in use, no allocation,
// no clock. A ban holds until Expire lifts it: Run does so within a second of
// its end.
func (g *Guard) Banned(addr netip.Addr) bool {
	return g.mem.Contains(addr)
}

// AccountBlocked reports whether requests for account from addr are blocked
// (the graduated response to one misconfigured device), and counts the hit.
func (g *Guard) AccountBlocked(addr netip.Addr, account string) bool {
	if g.nsoft.Load() == 0 || account == "" {
		return false
	}
	addr = addr.Unmap().WithZone("")
	now := g.now()
	g.mu.RLock()
	defer g.mu.RUnlock()
	for _, bits := range g.softBits(addr) {
		p, _ := addr.Prefix(bits)
		if e, ok := g.records[detect.Subject{Prefix: p, Account: account}]; ok && now.Before(e.rec.Until) {
			e.hits.Add(1)
			return true
		}
	}
	return false
}

// softBits lists the prefix lengths account blocks for addr may be keyed by.
func (g *Guard) softBits(addr netip.Addr) []int {
	if addr.Is4() {
		return []int{32}
	}
	if v6 := g.v6Prefix(); v6 != 128 {
		return []int{128, v6}
	}
	return []int{128}
}

func (g *Guard) v6Prefix() int {
	if g.standard != nil {
		return g.standard.Limits().V6Prefix
	}
	if g.pol.Limits.V6Prefix != 0 {
		return g.pol.Limits.V6Prefix
	}
	return detect.DefaultLimits().V6Prefix
}

// decide turns one finding into a ban, or nothing.
func (g *Guard) decide(ctx context.Context, f *detect.Finding) error {
	sub := f.Subject
	if !sub.IsValid() {
		return fmt.Errorf("ban: finding for %v: %w: invalid subject", f.Cause, detect.ErrInvalidEvent)
	}
	sub.Prefix = sub.Prefix.Masked()
	if g.pol.allowedPrefix(sub.Prefix) {
		g.log.Info("sipban: allow-listed subject not banned", "subject", sub, "cause", f.Cause)
		return nil
	}
	soft := sub.Account != "" && f.Device && (f.OthersOK || f.Cause == detect.StaleAccount)
	if !soft {
		sub.Account = ""
	}
	now := g.now()

	g.mu.Lock()
	if e, ok := g.records[sub]; ok && now.Before(e.rec.Until) {
		g.mu.Unlock()
		return nil
	}
	if !soft {
		// An address-wide ban makes the account blocks inside it moot.
		if e, ok := g.records[detect.Subject{Prefix: sub.Prefix}]; ok && now.Before(e.rec.Until) {
			g.mu.Unlock()
			return nil
		}
	}
	if len(g.records) >= g.pol.MaxBans {
		g.mu.Unlock()
		g.log.Error("sipban: ban refused", "subject", sub, "cause", f.Cause, "error", ErrTooManyBans)
		return fmt.Errorf("ban %v: %w", sub, ErrTooManyBans)
	}
	level := 0
	if o, ok := g.history[sub]; ok && now.Sub(o.end) < g.pol.ForgetAfter {
		level = o.level + 1
	}
	scope := "address"
	if soft {
		scope = "account"
	}
	rec := Record{
		Subject:  sub,
		Scope:    scope,
		Cause:    f.Cause,
		Level:    level,
		Since:    now,
		Until:    now.Add(g.pol.duration(f.Cause, level)),
		Evidence: f.Evidence,
	}
	rec.Diagnosis = diagnose(&rec, f)
	e := &entry{rec: rec, pushed: now}
	g.records[sub] = e
	heap.Push(&g.expiry, e)
	g.remember(sub, offence{level: level, end: rec.Until})
	if soft {
		g.nsoft.Add(1)
	}
	g.mu.Unlock()

	if g.standard != nil {
		g.standard.Forget(sub)
	}
	var err error
	if !soft {
		g.enf.Lock()
		g.mu.RLock()
		lifted := g.records[sub] != e
		g.mu.RUnlock()
		if !lifted {
			err = g.enforce(ctx, func(ctx context.Context, en enforce.Enforcer) error {
				return en.Ban(ctx, sub.Prefix, rec.Until)
			})
		}
		g.enf.Unlock()
		if err != nil {
			g.mu.Lock()
			e.rec.EnforceError = err.Error()
			g.mu.Unlock()
		}
	}
	g.log.Warn("sipban: banned", "subject", sub, "cause", f.Cause, "level", level,
		"until", rec.Until.Format(time.RFC3339), "detail", f.Evidence.Detail)
	if g.onBan != nil {
		g.mu.RLock()
		r := e.snapshot()
		g.mu.RUnlock()
		g.onBan(r)
	}
	if err != nil {
		return fmt.Errorf("ban %v: %w", sub, err)
	}
	return nil
}

// remember records an offence, forgetting an arbitrary old one when full.
func (g *Guard) remember(sub detect.Subject, o offence) {
	if _, ok := g.history[sub]; !ok && len(g.history) >= g.pol.MaxBans {
		for k := range g.history {
			if _, active := g.records[k]; !active {
				delete(g.history, k)
				break
			}
		}
	}
	g.history[sub] = o
}

// enforce applies fn to every enforcer and joins their errors.
func (g *Guard) enforce(ctx context.Context, fn func(context.Context, enforce.Enforcer) error) error {
	var errs []error
	for _, en := range g.enforcers {
		if err := fn(ctx, en); err != nil {
			g.log.Error("sipban: enforcer failed", "enforcer", fmt.Sprintf("%T", en), "error", err)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Bans returns a copy of every active record, address-wide bans and account
// blocks alike, soonest to expire first.
func (g *Guard) Bans() []Record {
	now := g.now()
	g.mu.RLock()
	defer g.mu.RUnlock()
	out := make([]Record, 0, len(g.records))
	for _, e := range g.expiry {
		if now.Before(e.rec.Until) {
			out = append(out, e.snapshot())
		}
	}
	sortByUntil(out)
	return out
}

// Record returns the active record for exactly sub.
func (g *Guard) Record(sub detect.Subject) (Record, bool) {
	now := g.now()
	g.mu.RLock()
	defer g.mu.RUnlock()
	e, ok := g.records[sub]
	if !ok || !now.Before(e.rec.Until) {
		return Record{}, false
	}
	return e.snapshot(), true
}

func (e *entry) snapshot() Record {
	r := e.rec
	r.Blocked = e.hits.Load()
	return r
}

// Lift ends the ban on exactly sub, as a person would. The subject keeps its
// level, so a repeat offence is still banned longer. It returns ErrNotFound if
// no active ban has that subject, and the enforcers' errors, if any, after
// lifting the ban in memory.
func (g *Guard) Lift(ctx context.Context, sub detect.Subject) error {
	g.mu.Lock()
	e, ok := g.records[sub]
	if ok {
		g.drop(e)
	}
	g.mu.Unlock()
	if !ok {
		return fmt.Errorf("lift %v: %w", sub, ErrNotFound)
	}
	g.log.Info("sipban: lifted", "subject", sub, "cause", e.rec.Cause)
	if err := g.unenforce(ctx, []*entry{e}); err != nil {
		return fmt.Errorf("lift %v: %w", sub, err)
	}
	return nil
}

// drop removes e from the records; g.mu must be held.
func (g *Guard) drop(e *entry) {
	delete(g.records, e.rec.Subject)
	heap.Remove(&g.expiry, e.pos)
	if e.rec.Subject.Account != "" {
		g.nsoft.Add(-1)
	}
}

// unenforce ends what the dropped entries still hold: their counts in the
// standard detector and their address-wide bans in every enforcer.
func (g *Guard) unenforce(ctx context.Context, es []*entry) error {
	var lift []netip.Prefix
	for _, e := range es {
		if g.standard != nil {
			g.standard.Forget(e.rec.Subject)
		}
		if e.rec.Subject.Account == "" {
			lift = append(lift, e.rec.Subject.Prefix)
		}
	}
	if len(lift) == 0 {
		return nil
	}
	g.enf.Lock()
	defer g.enf.Unlock()
	// Many bans can end at once (an attack's worth, an hour later): one
	// batch per enforcer that takes them, not a kernel round trip each.
	return g.enforce(ctx, func(ctx context.Context, en enforce.Enforcer) error {
		return unbanAll(ctx, en, lift)
	})
}

// Expire lifts the bans whose time is up at now and returns how many it lifted.
// Run calls it; tests call it with a fake clock.
func (g *Guard) Expire(ctx context.Context, now time.Time) (int, error) {
	var due []*entry
	g.mu.Lock()
	for len(g.expiry) > 0 && !now.Before(g.expiry[0].rec.Until) {
		e := g.expiry[0]
		g.drop(e)
		due = append(due, e)
	}
	g.mu.Unlock()
	for _, e := range due {
		g.log.Info("sipban: expired", "subject", e.rec.Subject, "cause", e.rec.Cause)
	}
	if err := g.unenforce(ctx, due); err != nil {
		return len(due), fmt.Errorf("expire %d bans: %w", len(due), err)
	}
	return len(due), nil
}

// Run lifts expired bans once a second, and calls Resync every
// Options.ResyncEvery, until ctx is done; then it returns ctx.Err().
func (g *Guard) Run(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var resync <-chan time.Time
	if g.resync > 0 {
		rt := time.NewTicker(g.resync)
		defer rt.Stop()
		resync = rt.C
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			if _, err := g.Expire(ctx, g.now()); err != nil {
				g.log.Error("sipban: expiry", "error", err)
			}
		case <-resync:
			if _, err := g.Resync(ctx); err != nil {
				g.log.Error("sipban: resync", "error", err)
			}
		}
	}
}

// Standard returns the Guard's standard detector, or nil if Options.NoStandard.
func (g *Guard) Standard() *detect.Standard { return g.standard }

// expiryHeap orders entries by Until.
type expiryHeap []*entry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].rec.Until.Before(h[j].rec.Until) }
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].pos = i
	h[j].pos = j
}
func (h *expiryHeap) Push(x any) {
	e := x.(*entry)
	e.pos = len(*h)
	*h = append(*h, e)
}
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
