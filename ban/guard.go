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
	"github.com/sipban/sipban/internal/lograte"
)

// Errors a caller may branch on.
var (
	// ErrNotFound: no active record has that subject.
	ErrNotFound = errors.New("ban: no such ban")
	// ErrTooManyBans: Policy.MaxBans active records exist already and the
	// finding had no proof to evict one with.
	ErrTooManyBans = errors.New("ban: too many active bans")
)

// The scopes of a Record.
const (
	// ScopeAddress: every packet from the address or prefix is dropped.
	ScopeAddress = "address"
	// ScopeAccount: requests for one account from one address are refused
	// (a misconfigured device).
	ScopeAccount = "account"
	// ScopeGuard: the address or the account keeps serving its known
	// devices; everything else is refused without a credential check.
	ScopeGuard = "guard"
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
	// Logger receives one line per ban, lift and guard; refusals and
	// enforcement errors at most once per LogEvery, with a count. Nil means
	// slog.Default().
	Logger *slog.Logger
	// LogEvery bounds the lines repeated failures write; zero means a minute.
	LogEvery time.Duration
	// EnforceTimeout bounds each call to an enforcer made while judging an
	// event, so that a slow kernel cannot stall SIP handling for long; the
	// in-memory ban holds at once and Resync retries what timed out. Zero
	// means 250 ms.
	EnforceTimeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// ResyncEvery is how often Run calls Resync, which puts back bans that
	// kernel enforcers lost; 0 means once a minute, a negative value never.
	ResyncEvery time.Duration
	// OnBan, if set, is called with a copy of each new record (ban, block
	// or guard) once the enforcers have applied it, from the goroutine whose
	// Observe made it. It must not call back into the Guard's Observe.
	OnBan func(Record)
	// Directory, if set, tells explanations which accounts exist, which
	// were deleted and when passwords changed; see Directory.
	Directory Directory
	// Messages adds or replaces explanation languages, by language tag
	// ("en", "de", "fr"); keys missing from one fall back to English.
	Messages map[string]Messages
	// Store, if set, keeps the records, the offence history, the known
	// devices and the lifts across restarts; see Store. Call Restore before
	// serving, and Close when done. Writes happen in the background: a
	// store never slows the judging of an event.
	Store Store
	// StoreQueue bounds the changes waiting for the Store, in each of its
	// two queues (records, devices and lifts; the failures the detectors
	// count); beyond it they are dropped, counted and logged. Zero means
	// 65,536.
	StoreQueue int
	// Fleet, if set, shares the records made here and the lifts made here
	// with the Guards of other edges, and takes in theirs while Run runs;
	// see Fleet.
	Fleet Fleet
}

// Guard turns events into bans: it runs the detectors, applies the policy,
// asks the enforcers to act, keeps a record of every ban and lifts bans when
// they expire or when asked. A Guard is safe for concurrent use. Construct one
// with New; call Run to lift expired bans as time passes.
type Guard struct {
	pol       *policy
	standard  *detect.Standard
	detectors []detect.Detector
	forget    []detect.Forgetter
	trust     []detect.Truster
	replay    []detect.Replayer
	mem       *enforce.Memory
	enforcers []enforce.Enforcer // mem first
	log       *slog.Logger
	now       func() time.Time
	onBan     func(Record)
	resync    time.Duration // <= 0: Run does not resync
	timeout   time.Duration
	v6bits    int
	known     *known
	sites     *sites
	lifts     *lifts
	dir       Directory
	msgs      map[string]Messages
	store     Store
	persist   *persister // nil without Options.Store
	counts    *persister // the failures for Options.Store, queued apart: they never crowd out a record; nil without a Replayer
	keeping   *keeping
	fleet     Fleet
	share     *persister // nil without Options.Fleet
	// knownEvery is how stale a known device's stored login may grow
	// before it is stored again (seconds).
	knownEvery int64

	refused, failed, invalid lograte.Limiter
	stats                    counters

	// enf serializes changes to the kernel enforcers, so that a ban
	// installed again (by decide or Resync) never lands after its own lift;
	// judging an event waits for it only so long (Options.EnforceTimeout).
	enf sem

	// Active account blocks and guards; let Admit skip the lock.
	nsoft, nguard atomic.Int64
	// restored: Restore brought records back, which Reconcile trusts.
	restored atomic.Bool

	mu       sync.RWMutex
	tab      table
	expiry   expiryHeap // every record, by Until
	unproven expiryHeap // records made without proof, by Until: evicted first
	history  map[detect.Subject]offence
	within   map[netip.Prefix]int // address bans per aggregate prefix
}

// offence remembers a subject's last ban for escalation.
type offence struct {
	level  int
	end    time.Time
	proven bool
}

// New returns a Guard configured by opts. It starts nothing.
func New(opts Options) (*Guard, error) {
	pol, err := opts.Policy.compile()
	if err != nil {
		return nil, err
	}
	g := &Guard{
		pol:      pol,
		log:      opts.Logger,
		now:      opts.Now,
		onBan:    opts.OnBan,
		resync:   opts.ResyncEvery,
		timeout:  opts.EnforceTimeout,
		known:    newKnown(pol.MaxKnown),
		sites:    newSites(max(pol.MaxKnown/4, 1)),
		lifts:    newLifts(max(pol.MaxBans, 1)),
		dir:      opts.Directory,
		msgs:     catalogues(opts.Messages),
		tab:      newTable(),
		history:  make(map[detect.Subject]offence),
		within:   make(map[netip.Prefix]int),
		unproven: expiryHeap{slot: 1},
		enf:      make(sem, 1),
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
	if g.timeout == 0 {
		g.timeout = 250 * time.Millisecond
	}
	every := opts.LogEvery
	if every == 0 {
		every = time.Minute
	}
	g.refused = lograte.Limiter{Every: every}
	g.failed = lograte.Limiter{Every: every}
	g.invalid = lograte.Limiter{Every: every}
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
	for _, d := range g.detectors {
		if f, ok := d.(detect.Forgetter); ok {
			g.forget = append(g.forget, f)
		}
		if t, ok := d.(detect.Truster); ok {
			g.trust = append(g.trust, t)
		}
		if r, ok := d.(detect.Replayer); ok {
			g.replay = append(g.replay, r)
		}
	}
	// Restore trusts a login as stored, so a stored one lags the last by a
	// quarter of the trust window at most.
	g.knownEvery = int64(max(min(pol.KnownFor/64, g.trustWindow()/4, time.Hour), time.Second) / time.Second)
	g.v6bits = g.v6Prefix()
	if pol.Aggregate6 > 0 && pol.Aggregate6Bits >= g.v6bits {
		return nil, fmt.Errorf("ban: Aggregate6Bits /%d is not shorter than the /%d IPv6 sources are counted by", pol.Aggregate6Bits, g.v6bits)
	}
	g.mem = enforce.NewMemory(g.now)
	g.enforcers = append([]enforce.Enforcer{g.mem}, opts.Enforcers...)
	for i, e := range opts.Enforcers {
		if e == nil {
			return nil, fmt.Errorf("ban: enforcer %d is nil", i)
		}
	}
	if opts.StoreQueue < 0 {
		return nil, fmt.Errorf("ban: StoreQueue %d is negative", opts.StoreQueue)
	}
	if opts.Store != nil {
		q := opts.StoreQueue
		if q == 0 {
			q = 1 << 16
		}
		g.store = opts.Store
		g.persist = newPersister("store", opts.Store.Write, q, g.log, every, g.stored)
		if len(g.replay) > 0 {
			g.counts = newPersister("store", opts.Store.Write, q, g.log, every, nil)
			g.keeping = newKeeping(1 << 18)
		}
	}
	if opts.Fleet != nil {
		g.fleet = opts.Fleet
		g.share = newPersister("fleet", opts.Fleet.Share, 1<<16, g.log, every, nil)
	}
	return g, nil
}

// Observe runs the detectors on ev and bans what the policy says. It returns
// an error for an event that cannot be judged (wrapping detect.ErrInvalidEvent)
// and for a ban that could not be fully applied; such a ban still holds in
// memory. The Guard logs those errors itself (at most once per
// Options.LogEvery), so a caller that cannot act on them may drop them.
// Observe does not allocate for an event that makes no finding, unless it
// is a failure with proof a Store keeps.
func (g *Guard) Observe(ctx context.Context, ev *detect.Event) error {
	g.stats.events.Add(1)
	if err := ev.Validate(); err != nil {
		g.stats.invalid.Add(1)
		if n := g.invalid.Note(g.now()); n > 0 {
			g.log.Error("sipban: events that cannot be judged", "count", n, "error", err)
		}
		return err
	}
	if ev.Time.IsZero() {
		ev.Time = g.now()
	}
	addr := ev.Source.Addr().Unmap()
	if g.pol.allowed(addr) {
		return nil
	}
	ok := ev.Account != "" && ev.Authenticated() && (ev.Proven || g.pol.Limits.TrustUnproven)
	if ok || ev.Failed() {
		where := g.where(addr)
		if g.counts != nil && ev.Proven && ev.Failed() {
			g.storeFailure(where, ev) // before decide queues the forgetting it causes
		}
		if ok && g.known.learn(where, g.known.device(where, ev.Account, ev.UserAgent), ev.Time.Unix(), g.knownEvery) {
			g.storeDevice(where, ev)
		}
		g.sites.note(where, ev, ok)
		if !ok && ev.Account != "" && g.nsoft.Load() > 0 && (ev.Proven || g.pol.Limits.TrustUnproven) &&
			g.isKnown(where, ev.Account, ev.UserAgent, ev.Time) {
			g.holdKnown(addr, ev.Account)
		}
	}
	var findings []detect.Finding
	for _, d := range g.detectors {
		findings = d.Observe(ev, findings)
	}
	if g.lifts.nprob.Load() > 0 && ev.Failed() && (ev.Proven || g.pol.Limits.TrustUnproven) {
		if f, ok := g.repeat(ev, g.probationSubjects(addr, ev.Account)); ok {
			findings = append(findings, f)
		}
	}
	var errs []error
	for i := range findings {
		if err := g.decide(ctx, &findings[i], ev); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Banned reports whether addr is inside an address-wide ban. It is the read
// filter's hot path: one map lookup per prefix length in use, no allocation,
// no clock. A ban holds until Expire lifts it: Run does so within a second of
// its end. An allow-listed address is never banned, even inside a wider ban.
func (g *Guard) Banned(addr netip.Addr) bool {
	return g.mem.Contains(addr) && !g.pol.allowed(addr.Unmap())
}

// Admission is the Guard's answer to a request before it is handled.
type Admission uint8

const (
	// Admitted: handle the request.
	Admitted Admission = iota
	// Blocked: the account is blocked at this source (a misconfigured
	// device): answer 403 without checking credentials. A block caused by
	// a device that never logged in as the account spares those that did
	// (address, account and User-Agent, as guards know them).
	Blocked
	// Guarded: a guard covers the source or the account, and the request
	// is not from one of its known devices: answer 403 without checking
	// credentials, and report the transaction with detect.Event.Guarded.
	Guarded
)

// Admit tells whether a request for account from addr, sent by userAgent,
// may be handled, and counts the refusals on the records that caused them.
// Requests without an account are admitted: they have no password to try.
func (g *Guard) Admit(addr netip.Addr, account, userAgent string) Admission {
	if account == "" || g.nsoft.Load() == 0 && g.nguard.Load() == 0 {
		return Admitted
	}
	addr = addr.Unmap().WithZone("")
	now := g.now()
	ns := now.UnixNano()
	g.mu.RLock()
	defer g.mu.RUnlock()
	where := g.where(addr)
	for _, bits := range g.softBits(addr) {
		p, _ := addr.Prefix(bits)
		if e := g.tab.get(detect.Subject{Prefix: p, Account: account}); e != nil && e.active(ns) {
			// A block made by a device that never logged in (a typo, or a
			// neighbour behind the NAT guessing) spares the account's
			// devices that did.
			if !e.is(fKnownDev) && g.isKnown(where, account, userAgent, now) {
				continue
			}
			e.hits.Add(1)
			return Blocked
		}
	}
	if g.nguard.Load() == 0 {
		return Admitted
	}
	var guard *entry
	if e := g.tab.get(detect.Subject{Prefix: netip.PrefixFrom(where, g.bitsOf(where))}); e != nil && e.scope == scopeGuard && e.active(ns) {
		guard = e
	} else if e := g.tab.get(detect.Subject{Account: account}); e != nil && e.active(ns) {
		guard = e
	}
	if guard == nil || g.isKnown(where, account, userAgent, now) {
		return Admitted
	}
	guard.hits.Add(1)
	return Guarded
}

// holdKnown makes the blocks of account at addr that spared its known
// devices hold them too: one of them (or a sender that copies its
// User-Agent) failed with proof. Else a neighbour behind the NAT could
// guess on, unchecked, under its name.
func (g *Guard) holdKnown(addr netip.Addr, account string) {
	ns := g.now().UnixNano()
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, bits := range g.softBits(addr) {
		p, _ := addr.Prefix(bits)
		if e := g.tab.get(detect.Subject{Prefix: p, Account: account}); e != nil && e.active(ns) && !e.is(fKnownDev) {
			e.flags |= fKnownDev
			g.storeRecord(e, true)
		}
	}
}

// probationSubjects lists the subjects a failure from addr for account
// falls under: the address, the account blocks there, and the account's
// guard anywhere.
func (g *Guard) probationSubjects(addr netip.Addr, account string) []detect.Subject {
	where := g.where(addr)
	subs := []detect.Subject{{Prefix: netip.PrefixFrom(where, g.bitsOf(where))}}
	if account != "" {
		subs = append(subs, detect.Subject{Account: account})
		for _, bits := range g.softBits(addr) {
			p, _ := addr.Prefix(bits)
			subs = append(subs, detect.Subject{Prefix: p, Account: account})
		}
	}
	return subs
}

// where is what sources are counted by: the address, or its IPv6 prefix.
func (g *Guard) where(addr netip.Addr) netip.Addr {
	p, _ := addr.Prefix(g.bitsOf(addr))
	return p.Addr()
}

func (g *Guard) bitsOf(addr netip.Addr) int {
	if addr.Is4() {
		return 32
	}
	return g.v6bits
}

// softBits lists the prefix lengths account blocks for addr may be keyed by.
func (g *Guard) softBits(addr netip.Addr) []int {
	if addr.Is4() {
		return []int{32}
	}
	if g.v6bits != 128 {
		return []int{128, g.v6bits}
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

// decide turns one finding, made of ev (nil for one of the Guard's own),
// into a record, or nothing: admit records it, apply makes an address ban
// real in the enforcers, notify tells people.
func (g *Guard) decide(ctx context.Context, f *detect.Finding, ev *detect.Event) error {
	h, evicted, err := g.admit(f, g.stranger(f, ev), g.knownDevice(f, ev))
	if h.e == nil {
		return err
	}
	g.forgetAll(h.sub, false)
	aerr := g.apply(ctx, h, evicted)
	g.notify(h, f.Proven, f.Evidence.Detail, "")
	if agg := g.aggregate(h, f); agg != nil {
		aerr = errors.Join(aerr, g.decide(ctx, agg, nil))
	}
	if aerr != nil {
		return fmt.Errorf("ban %v: %w", h.sub, aerr)
	}
	return nil
}

// stranger reports whether f, which would ban an address, is to guard it
// instead, so that the devices that logged in there keep working: f was
// caused by a device that is not one of those at a trusted address, or f
// is without proof at an address where a device logged in within
// Policy.KnownFor. A forged source can name any device, so without proof
// the device does not matter, and a customer whose phone was off for the
// night does not wake up banned by one forged datagram.
func (g *Guard) stranger(f *detect.Finding, ev *detect.Event) bool {
	if f.Guard || ev == nil || !f.Subject.Prefix.IsValid() {
		return false
	}
	where, now := g.where(ev.Source.Addr().Unmap()), g.now()
	if !f.Proven {
		return f.Trusted || g.known.seenAt(where, now.Add(-g.pol.KnownFor).Unix())
	}
	return f.Trusted && !g.isKnown(where, ev.Account, ev.UserAgent, now)
}

// knownDevice reports whether the device that made f logged in with proof
// as f's account before: then its failures are outdated credentials, not a
// typo.
func (g *Guard) knownDevice(f *detect.Finding, ev *detect.Event) bool {
	if ev == nil {
		return false
	}
	acct := f.Subject.Account
	if acct == "" {
		acct = ev.Account
	}
	return acct != "" && g.isKnown(g.where(ev.Source.Addr().Unmap()), acct, ev.UserAgent, g.now())
}

// isKnown reports whether (where, account, userAgent) logged in with proof
// within Policy.KnownFor of now.
func (g *Guard) isKnown(where netip.Addr, account, userAgent string, now time.Time) bool {
	return g.known.has(g.known.device(where, account, userAgent), now.Add(-g.pol.KnownFor).Unix())
}

// scopeOf chooses the response to f and the subject it applies to; a
// finding a stranger caused at a trusted address guards it.
func scopeOf(f *detect.Finding, stranger bool) (detect.Subject, string) {
	sub := f.Subject
	sub.Prefix = sub.Prefix.Masked()
	switch {
	case f.Guard:
		return sub, ScopeGuard
	case sub.Account != "" && sub.Prefix.IsValid() && f.Device && (f.OthersOK || f.Cause == detect.StaleAccount):
		return sub, ScopeAccount
	}
	sub.Account = ""
	if stranger {
		return sub, ScopeGuard
	}
	return sub, ScopeAddress
}

// admit records f unless its subject is allow-listed or already covered,
// and returns the new record and the address bans evicted to make room.
func (g *Guard) admit(f *detect.Finding, stranger, knownDev bool) (held, []held, error) {
	if !f.Subject.IsValid() {
		return held{}, nil, fmt.Errorf("ban: finding for %v: %w: invalid subject", f.Cause, detect.ErrInvalidEvent)
	}
	sub, scope := scopeOf(f, stranger)
	if scope == ScopeAddress && !sub.Prefix.IsValid() {
		return held{}, nil, fmt.Errorf("ban: finding for %v on %v: %w: an address ban needs an address", f.Cause, sub, detect.ErrInvalidEvent)
	}
	if sub.Prefix.IsValid() && g.pol.allowedPrefix(sub.Prefix) {
		g.log.Info("sipban: allow-listed subject not banned", "subject", sub, "cause", f.Cause)
		return held{}, nil, nil
	}
	sc := scopeCode(scope)
	now := g.now()

	g.mu.Lock()
	defer g.mu.Unlock()
	evicted, ok, err := g.makeRoom(sub, sc, f.Proven, f.Cause, now)
	if !ok {
		return held{}, nil, err
	}
	level := 0
	if o, ok := g.history[sub]; ok && now.Sub(o.end) < g.pol.ForgetAfter {
		level = o.level + 1
	}
	if g.lifts.repeated(sub, f.Cause, now) {
		level++ // back within a customer's probation: longer
	}
	level = min(level, 255)
	e := g.install(sub, sc, f.Cause, level, now.UnixNano(), now.Add(max(g.pol.duration(f.Cause, level), f.Hold)).UnixNano(),
		flagIf(f.Proven, fProven)|flagIf(f.Device, fDevice)|flagIf(f.OthersOK, fOthersOK)|flagIf(knownDev, fKnownDev), &f.Evidence)
	g.storeRecord(e, true)
	return e.hold(), evicted, nil
}

// makeRoom readies the table for a record on sub of scope sc: it reports
// false if one that covers it is active, drops an ended one on sub (or a
// guard the record replaces), and at a full table evicts the record that
// ends soonest, one made without proof first, for a proven record only. It
// returns the address bans dropped, which the enforcers must lift. g.mu
// must be held.
func (g *Guard) makeRoom(sub detect.Subject, sc uint8, proven bool, cause detect.Cause, now time.Time) ([]held, bool, error) {
	ns := now.UnixNano()
	if sub.Prefix.IsValid() {
		// An address ban makes the blocks and guards inside it moot.
		if e := g.tab.get(detect.Subject{Prefix: sub.Prefix}); e != nil && e.scope == scopeAddress && e.active(ns) {
			return nil, false, nil
		}
	}
	old := g.tab.get(sub)
	if old != nil && old.active(ns) && (old.scope == sc || sc == scopeGuard) {
		return nil, false, nil
	}
	var evicted []held
	if old != nil {
		// Ended but not yet expired, or a guard a ban now replaces: drop
		// it here, so that its heap entry cannot later delete the new one.
		v := g.drop(old)
		if v.scope == scopeAddress && sc != scopeAddress {
			evicted = append(evicted, v) // its ban must go; a new ban would replace it
		}
	}
	if g.tab.len() >= g.pol.MaxBans {
		if !proven || len(g.expiry.es) == 0 {
			g.stats.refused.Add(1)
			n := g.refused.Note(now)
			if n > 0 {
				g.log.Error("sipban: bans refused, the table is full", "refused", n, "max", g.pol.MaxBans, "last", sub, "cause", cause)
			}
			return evicted, false, fmt.Errorf("ban %v: %w", sub, ErrTooManyBans)
		}
		h := &g.unproven
		if len(h.es) == 0 {
			h = &g.expiry
		}
		v := g.drop(h.es[0])
		g.stats.evicted.Add(1)
		if v.scope == scopeAddress {
			evicted = append(evicted, v)
		}
	}
	return evicted, true, nil
}

// install puts a record on sub; one made without proof (fProven unset) is
// the first evicted at a full table. g.mu must be held.
func (g *Guard) install(sub detect.Subject, sc uint8, cause detect.Cause, level int, since, until int64, flags uint8, ev *detect.Evidence) *entry {
	e := g.tab.put(sub, sc)
	e.cause = cause
	e.level = uint8(min(level, 255))
	e.since, e.until = since, until
	e.flags |= flags
	e.setEvidence(ev)
	heap.Push(&g.expiry, e)
	if flags&fProven == 0 {
		heap.Push(&g.unproven, e)
	}
	g.count(e, 1)
	return e
}

// count adds d to the tallies e's scope keeps.
func (g *Guard) count(e *entry, d int) {
	g.stats.active[e.scope][e.cause].Add(int64(d))
	if d > 0 {
		g.stats.made[e.scope][e.cause].Add(1)
	}
	switch e.scope {
	case scopeAccount:
		g.nsoft.Add(int64(d))
	case scopeGuard:
		g.nguard.Add(int64(d))
	case scopeAddress:
		// Only proven bans aggregate: forged sources in a customer's /48
		// must not ban the customer's own /64.
		if p, _, ok := g.aggregateOf(e.prefix()); ok && e.is(fProven) {
			if g.within[p] += d; g.within[p] <= 0 {
				delete(g.within, p)
			}
		}
	}
}

// apply makes an address ban real: at once in memory, so that the read
// filter drops the source before the answer that caused the ban leaves;
// then in the kernel enforcers, and lifts there the bans evicted for it.
// Judging an event waits for the kernel at most Options.EnforceTimeout: a
// slow or stuck enforcer cannot stall SIP handling. What did not make it in
// time is marked on the record and put in by the call still running, or by
// Resync.
func (g *Guard) apply(ctx context.Context, h held, evicted []held) error {
	address := h.scope == scopeAddress
	if !address && len(evicted) == 0 {
		return nil
	}
	var merr error
	for _, v := range evicted {
		merr = errors.Join(merr, g.mem.Unban(ctx, v.sub.Prefix))
	}
	if address {
		g.mu.RLock()
		// Checked under the lock a Lift drops it with: never banned after its lift.
		lifted := !h.live()
		if !lifted {
			merr = errors.Join(merr, g.mem.Ban(ctx, h.sub.Prefix, h.until))
		}
		g.mu.RUnlock()
		if lifted {
			return merr
		}
	}
	if merr != nil || len(g.enforcers) == 1 {
		return g.late(h, merr)
	}
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	if err := g.enf.lockCtx(ctx); err != nil {
		return g.late(h, fmt.Errorf("ban: enforcers busy: %w", err))
	}
	done := make(chan error, 1)
	go func() {
		defer g.enf.unlock()
		var errs []error
		if len(evicted) > 0 {
			errs = append(errs, g.unenforceLocked(context.WithoutCancel(ctx), g.enforcers[1:], evicted))
		}
		g.mu.RLock()
		current := address && h.live()
		g.mu.RUnlock()
		if current {
			errs = append(errs, g.enforce(context.WithoutCancel(ctx), g.enforcers[1:], func(ctx context.Context, en enforce.Enforcer) error {
				return en.Ban(ctx, h.sub.Prefix, h.until)
			}))
		}
		done <- errors.Join(errs...)
	}()
	select {
	case err := <-done:
		if err != nil {
			return g.late(h, err)
		}
		return nil
	case <-ctx.Done():
		return g.late(h, fmt.Errorf("ban: enforcers slow: %w", ctx.Err()))
	}
}

// late marks h's ban as not (yet) in every enforcer, for Resync to retry.
func (g *Guard) late(h held, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		g.stats.enforceErrors.Add(1)
		if n := g.failed.Note(g.now()); n > 0 {
			g.log.Error("sipban: enforcers late; Resync retries", "count", n, "subject", h.sub, "error", err)
		}
	}
	if err != nil && h.scope == scopeAddress {
		g.mu.Lock()
		if h.live() {
			g.tab.setError(h.e, err.Error())
		}
		g.mu.Unlock()
	}
	return err
}

// notify logs a new record and hands it to Options.OnBan; from names the
// edge that made it, empty for this one.
func (g *Guard) notify(h held, proven bool, detail, from string) {
	args := []any{"subject", h.sub, "cause", h.cause, "level", h.level, "until", h.until.Format(time.RFC3339), "proven", proven, "detail", detail}
	if from != "" {
		args = append(args, "from", from)
	}
	g.log.Warn("sipban: "+verb(h.scope), args...)
	if g.onBan == nil {
		return
	}
	g.mu.RLock()
	u, ok := g.snapshot(h)
	g.mu.RUnlock()
	if ok {
		g.onBan(g.explain(u, "en"))
	}
}

func verb(scope uint8) string {
	switch scope {
	case scopeAccount:
		return "blocked"
	case scopeGuard:
		return "guarded"
	}
	return "banned"
}

// forgetAll tells every detector that keeps counts to forget sub, and
// the Store, so that Restore replays it.
func (g *Guard) forgetAll(sub detect.Subject, lifted bool) {
	for _, f := range g.forget {
		f.Forget(sub, lifted)
	}
	g.storeForget(sub, lifted)
}

// remember records an offence. When the history is full it forgets, of a
// few sampled at random, one made without proof first, then the oldest:
// forged sources that fill it evict each other before a proven offender.
func (g *Guard) remember(sub detect.Subject, o offence) {
	if _, ok := g.history[sub]; !ok && len(g.history) >= g.pol.MaxBans {
		var victim detect.Subject
		var worst offence
		n := 0
		for k, v := range g.history {
			if n == 0 || (!v.proven && worst.proven) || (v.proven == worst.proven && v.end.Before(worst.end)) {
				victim, worst = k, v
			}
			if n++; n == 8 {
				break
			}
		}
		delete(g.history, victim)
	}
	g.history[sub] = o
}

// enforce applies fn to the enforcers ens and joins their errors.
func (g *Guard) enforce(ctx context.Context, ens []enforce.Enforcer, fn func(context.Context, enforce.Enforcer) error) error {
	var errs []error
	for _, en := range ens {
		if err := fn(ctx, en); err != nil {
			g.stats.enforceErrors.Add(1)
			if n := g.failed.Note(g.now()); n > 0 {
				g.log.Error("sipban: enforcer failed", "enforcer", fmt.Sprintf("%T", en), "failures", n, "error", err)
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Bans returns a copy of every active record, address-wide bans, account
// blocks and guards alike, soonest to expire first. It copies them all: at
// many bans, use Page.
func (g *Guard) Bans() []Record {
	ns := g.now().UnixNano()
	g.mu.RLock()
	us := make([]unpacked, 0, g.tab.len())
	for _, e := range g.expiry.es {
		if e.active(ns) {
			us = append(us, g.unpack(e))
		}
	}
	g.mu.RUnlock()
	out := make([]Record, len(us))
	for i, u := range us {
		out[i] = g.explain(u, "en")
	}
	sortByUntil(out)
	return out
}

// Record returns the active record for exactly sub.
func (g *Guard) Record(sub detect.Subject) (Record, bool) { return g.Explain(sub, "en") }

// Explain returns the active record for exactly sub, its diagnosis in lang
// (a tag Language returns; others fall back to English).
func (g *Guard) Explain(sub detect.Subject, lang string) (Record, bool) {
	ns := g.now().UnixNano()
	g.mu.RLock()
	e := g.tab.get(sub)
	if e == nil || !e.active(ns) {
		g.mu.RUnlock()
		return Record{}, false
	}
	u := g.unpack(e)
	g.mu.RUnlock()
	return g.explain(u, lang), true
}

// unpacked is a record copied out under the lock, to be explained after
// it: the explanation asks the caller's Directory, which may be slow, and
// must not hold up the Guard meanwhile.
type unpacked struct {
	r     Record
	flags uint8
}

// unpack copies e out. g.mu must be held.
func (g *Guard) unpack(e *entry) unpacked { return unpacked{g.tab.record(e), e.flags} }

// explain renders u's diagnosis in lang, and its lifts. g.mu must not be
// held.
func (g *Guard) explain(u unpacked, lang string) Record {
	r := u.r
	r.Diagnosis = g.diagnose(&r, u.flags, lang)
	r.Lifts = g.lifts.notesOf(r.Subject)
	r.StoreError = g.storeError(u.flags)
	return r
}

// snapshot unpacks h's record if it still is. g.mu must be held.
func (g *Guard) snapshot(h held) (unpacked, bool) {
	if !h.live() {
		return unpacked{}, false
	}
	return g.unpack(h.e), true
}

// Lift ends the record on exactly sub (a ban, block or guard), as an
// operator would (LiftAs is a customer's lift). The subject keeps its
// level, so a repeat offence is still banned longer, but the detectors
// forget all they counted against it, so that a new device may enrol. It
// returns ErrNotFound if no active record has that subject, and the
// enforcers' errors, if any, after lifting it in memory.
func (g *Guard) Lift(ctx context.Context, sub detect.Subject) error {
	return g.LiftAs(ctx, sub, LiftRequest{Operator: true})
}

// drop removes e from the records and remembers the offence for
// escalation: an active record is its own history. It returns what the
// work after the lock needs. g.mu must be held.
func (g *Guard) drop(e *entry) held {
	h := e.hold()
	o := offence{level: h.level, end: h.until, proven: e.is(fProven)}
	g.remember(h.sub, o)
	g.storeEnd(h.sub, o)
	if e.pos[0] >= 0 {
		heap.Remove(&g.expiry, int(e.pos[0]))
	}
	if e.pos[1] >= 0 {
		heap.Remove(&g.unproven, int(e.pos[1]))
	}
	g.count(e, -1)
	g.tab.remove(e)
	return h
}

// unenforce ends what the dropped records still hold: their counts in the
// detectors and their address-wide bans in every enforcer.
func (g *Guard) unenforce(ctx context.Context, hs []held, lifted bool) error {
	for _, h := range hs {
		g.forgetAll(h.sub, lifted)
	}
	g.enf.lock()
	defer g.enf.unlock()
	return g.unenforceLocked(ctx, g.enforcers, hs)
}

// unenforceLocked lifts the address bans among hs in the enforcers ens;
// g.enf must be held.
func (g *Guard) unenforceLocked(ctx context.Context, ens []enforce.Enforcer, hs []held) error {
	var lift []netip.Prefix
	for _, h := range hs {
		if h.scope == scopeAddress {
			lift = append(lift, h.sub.Prefix)
		}
	}
	if len(lift) == 0 {
		return nil
	}
	// Many bans can end at once (an attack's worth, an hour later): one
	// batch per enforcer that takes them, not a kernel round trip each.
	return g.enforce(ctx, ens, func(ctx context.Context, en enforce.Enforcer) error {
		return unbanAll(ctx, en, lift)
	})
}

// Expire lifts the records whose time is up at now and returns how many it
// lifted. Run calls it; tests call it with a fake clock.
func (g *Guard) Expire(ctx context.Context, now time.Time) (int, error) {
	var due []held
	ns := now.UnixNano()
	g.mu.Lock()
	for len(g.expiry.es) > 0 && !g.expiry.es[0].active(ns) {
		due = append(due, g.drop(g.expiry.es[0]))
	}
	g.mu.Unlock()
	g.stats.expired.Add(int64(len(due)))
	for _, h := range due {
		g.log.Info("sipban: expired", "subject", h.sub, "cause", h.cause)
	}
	if err := g.unenforce(ctx, due, false); err != nil {
		return len(due), fmt.Errorf("expire %d bans: %w", len(due), err)
	}
	return len(due), nil
}

// Run lifts expired bans once a second, calls Resync every
// Options.ResyncEvery, forgets offences older than Policy.ForgetAfter
// hourly, and takes in what Options.Fleet shares, until ctx is done; then
// it returns ctx.Err().
func (g *Guard) Run(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	aging := time.NewTicker(time.Hour)
	defer aging.Stop()
	if g.fleet != nil {
		go func() {
			if err := g.Follow(ctx); ctx.Err() == nil {
				g.log.Error("sipban: fleet stopped", "error", err)
			}
		}()
	}
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
			g.flush(g.now())
		case <-aging.C:
			g.age(g.now())
		case <-resync:
			if _, err := g.Resync(ctx); err != nil {
				g.log.Error("sipban: resync", "error", err)
			}
		}
	}
}

// Stats are a Guard's counts since New, for metrics and for callers that
// leave Observe's errors to the Guard.
type Stats struct {
	// Events counts the events observed; Invalid, those that could not be
	// judged (no source address).
	Events  int64 `json:"events"`
	Invalid int64 `json:"invalid"`
	// Records is how many records (bans, blocks, guards) are active.
	Records int `json:"records"`
	// Refused counts findings refused at Policy.MaxBans; Evicted, records
	// evicted there to make room for proven ones.
	Refused int64 `json:"table_full"`
	Evicted int64 `json:"evicted"`
	// EnforceErrors counts enforcer calls that failed or did not answer
	// within Options.EnforceTimeout.
	EnforceErrors int64 `json:"enforce_errors"`
	// Lifted counts records lifted by an operator or a customer; Expired,
	// those that ran out.
	Lifted  int64 `json:"lifted"`
	Expired int64 `json:"expired"`
}

type counters struct {
	events, invalid, refused, evicted, enforceErrors, lifted, expired atomic.Int64
	// Per scope and cause: records active now, and made since New.
	active, made [3][256]atomic.Int64
}

// Tally counts the records of one scope and cause.
type Tally struct {
	Scope string
	Cause detect.Cause
	// Active is how many are active now; Made, how many were made since New.
	Active, Made int64
}

// Tallies returns the counts of records by scope and cause, those that
// were ever made, without the lock: for metrics scraped often at many bans.
func (g *Guard) Tallies() []Tally {
	var out []Tally
	for sc := range g.stats.made {
		for c := range g.stats.made[sc] {
			if m := g.stats.made[sc][c].Load(); m > 0 {
				out = append(out, Tally{Scope: scopeNames[sc], Cause: detect.Cause(c), Active: g.stats.active[sc][c].Load(), Made: m})
			}
		}
	}
	return out
}

// Stats returns the Guard's counts.
func (g *Guard) Stats() Stats {
	g.mu.RLock()
	n := g.tab.len()
	g.mu.RUnlock()
	return Stats{
		Events: g.stats.events.Load(), Invalid: g.stats.invalid.Load(), Records: n,
		Refused: g.stats.refused.Load(), Evicted: g.stats.evicted.Load(),
		EnforceErrors: g.stats.enforceErrors.Load(),
		Lifted:        g.stats.lifted.Load(), Expired: g.stats.expired.Load(),
	}
}

// flush logs the failures counted since the last line once its interval is
// over, so that none stays silent when they stop coming. Run calls it.
func (g *Guard) flush(now time.Time) {
	if n := g.refused.Due(now); n > 0 {
		g.log.Error("sipban: bans refused, the table is full", "refused", n, "max", g.pol.MaxBans)
	}
	if n := g.failed.Due(now); n > 0 {
		g.log.Error("sipban: enforcer failed", "failures", n)
	}
	if n := g.invalid.Due(now); n > 0 {
		g.log.Error("sipban: events that cannot be judged", "count", n)
	}
}

// Standard returns the Guard's standard detector, or nil if Options.NoStandard.
func (g *Guard) Standard() *detect.Standard { return g.standard }

// expiryHeap orders entries by Until; slot says which of an entry's
// positions it keeps up to date.
type expiryHeap struct {
	es   []*entry
	slot int
}

func (h *expiryHeap) Len() int           { return len(h.es) }
func (h *expiryHeap) Less(i, j int) bool { return h.es[i].until < h.es[j].until }
func (h *expiryHeap) Swap(i, j int) {
	h.es[i], h.es[j] = h.es[j], h.es[i]
	h.es[i].pos[h.slot] = int32(i)
	h.es[j].pos[h.slot] = int32(j)
}
func (h *expiryHeap) Push(x any) {
	e := x.(*entry)
	e.pos[h.slot] = int32(len(h.es))
	h.es = append(h.es, e)
}
func (h *expiryHeap) Pop() any {
	old := h.es
	e := old[len(old)-1]
	old[len(old)-1] = nil
	h.es = old[:len(old)-1]
	e.pos[h.slot] = -1
	return e
}

// sem is a lock whose waiters can give up.
type sem chan struct{}

// lock waits for the lock.
func (s sem) lock() { s <- struct{}{} }

// lockCtx waits for the lock until ctx is done.
func (s sem) lockCtx(ctx context.Context) error {
	select {
	case s <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s sem) unlock() { <-s }
