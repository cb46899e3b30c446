package ban

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/sipban/sipban/detect"
	"github.com/sipban/sipban/internal/lograte"
)

// maxBatch bounds one Store.Write: a ban storm is written in a few large
// transactions, never in one that holds the store for long.
const maxBatch = 16384

// persister writes a Guard's changes to its Store from a goroutine of its
// own, so that neither a disk's fsync nor a slow network store is ever
// waited for on the path that judges an event. Changes queue in order and
// are written in batches; a batch that fails stays at the head of the
// queue and is tried again, so the store converges once it is back. The
// queue is bounded (Options.StoreQueue): beyond it changes are dropped,
// counted and logged, while the bans they describe hold in memory and in
// the kernel.
type persister struct {
	name  string // "store" or "fleet", for the log
	write func(context.Context, []Change) error
	max   int
	log   *slog.Logger
	wrote func([]ref) // marks the records a batch stored; may be nil

	mu      sync.Mutex
	pending []Change
	refs    []ref // per pending change: the record an OpRecord stores
	queued  uint64
	written uint64
	waiters []flushWaiter
	err     error // the last Write's, nil once one succeeds
	closed  bool

	dropped, failures, batches int64
	failed                     lograte.Limiter
	wake                       chan struct{}
	stop                       chan struct{}
	done                       chan struct{}
}

type flushWaiter struct {
	upto uint64
	ch   chan struct{}
}

func newPersister(name string, write func(context.Context, []Change) error, max int, log *slog.Logger, every time.Duration, wrote func([]ref)) *persister {
	p := &persister{name: name, write: write, max: max, log: log, wrote: wrote, failed: lograte.Limiter{Every: every},
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	return p
}

// add queues c; r names the record an OpRecord stores.
func (p *persister) add(c Change, r ref, now time.Time) {
	p.mu.Lock()
	if p.closed || len(p.pending) >= p.max {
		p.dropped++
		closed := p.closed
		p.mu.Unlock()
		if n := p.failed.Note(now); n > 0 {
			p.log.Error("sipban: changes dropped: the "+p.name+" is behind, or closed", "count", n, "closed", closed, "op", c.Op.String())
		}
		return
	}
	p.pending = append(p.pending, c)
	p.refs = append(p.refs, r)
	p.queued++
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *persister) run() {
	defer close(p.done)
	backoff := time.Duration(0)
	for {
		if backoff > 0 {
			select {
			case <-time.After(backoff):
			case <-p.stop:
			}
		} else {
			select {
			case <-p.wake:
			case <-p.stop:
			}
		}
		ok := p.drain()
		p.mu.Lock()
		stopping, idle := p.closed, len(p.pending) == 0
		p.mu.Unlock()
		switch {
		case stopping && (idle || !ok):
			return
		case ok:
			backoff = 0
		default:
			backoff = min(max(2*backoff, 50*time.Millisecond), 5*time.Second)
		}
	}
}

// drain writes what is queued, batch by batch, until the queue is empty or
// a write fails.
func (p *persister) drain() bool {
	for {
		p.mu.Lock()
		n := min(len(p.pending), maxBatch)
		if n == 0 {
			p.mu.Unlock()
			return true
		}
		batch, refs := p.pending[:n:n], p.refs[:n:n]
		p.mu.Unlock()

		err := p.write(context.Background(), batch)

		p.mu.Lock()
		p.batches++
		p.err = err
		if err != nil {
			p.failures++
			p.mu.Unlock()
			if c := p.failed.Note(time.Now()); c > 0 {
				p.log.Error("sipban: "+p.name+" failed; its changes wait and are tried again", "failures", c, "waiting", n, "error", err)
			}
			return false
		}
		p.pending, p.refs = p.pending[n:], p.refs[n:]
		if len(p.pending) == 0 {
			p.pending, p.refs = nil, nil // let a storm's queue go
		}
		p.written += uint64(n)
		p.waiters = wakeFlushed(p.waiters, p.written)
		p.mu.Unlock()
		if p.wrote != nil {
			p.wrote(refs)
		}
	}
}

func wakeFlushed(ws []flushWaiter, written uint64) []flushWaiter {
	keep := ws[:0]
	for _, w := range ws {
		if w.upto <= written {
			close(w.ch)
		} else {
			keep = append(keep, w)
		}
	}
	return keep
}

// flush waits until every change queued before it is written.
func (p *persister) flush(ctx context.Context) error {
	p.mu.Lock()
	if p.written >= p.queued {
		p.mu.Unlock()
		return nil
	}
	w := flushWaiter{upto: p.queued, ch: make(chan struct{})}
	p.waiters = append(p.waiters, w)
	p.mu.Unlock()
	select {
	case <-w.ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ban: %s: %w", p.name, errors.Join(ctx.Err(), p.lastErr()))
	}
}

func (p *persister) lastErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// close writes what is queued, then stops; changes added later are dropped.
func (p *persister) close(ctx context.Context) error {
	err := p.flush(ctx)
	p.mu.Lock()
	already := p.closed
	p.closed = true
	p.mu.Unlock()
	if !already {
		close(p.stop)
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		err = errors.Join(err, ctx.Err())
	}
	return err
}

// StoreStats count a Guard's writes to its Store, the failures it keeps
// for the detectors included.
type StoreStats struct {
	// Pending changes wait to be written; Dropped were not queued, the
	// queue being full (Options.StoreQueue) or the Guard closed.
	Pending int
	Dropped int64
	// Batches counts the Writes made; Failures, those that failed.
	Batches, Failures int64
	// Unkept counts the failures with proof not kept for the detectors,
	// past their source's budget (16 per 10 minutes): a restart forgets them.
	Unkept int64
	// Err is the last Write's error, nil once one succeeded.
	Err error
}

// StoreStats returns the counts of the Guard's writes to Options.Store,
// zero without one.
func (g *Guard) StoreStats() StoreStats {
	var st StoreStats
	for _, p := range []*persister{g.persist, g.counts} {
		if p == nil {
			continue
		}
		p.mu.Lock()
		st.Pending += len(p.pending)
		st.Dropped += p.dropped
		st.Batches += p.batches
		st.Failures += p.failures
		if st.Err == nil {
			st.Err = p.err
		}
		p.mu.Unlock()
	}
	if g.keeping != nil {
		st.Unkept = g.keeping.unkept.Load()
	}
	return st
}

// Flush waits until every change the Guard made before the call is in its
// Store and shared with its Fleet, or ctx is done; without either it
// returns at once. A record is acknowledged, and survives a crash, once a
// Flush after it returned nil.
func (g *Guard) Flush(ctx context.Context) error {
	var errs []error
	for _, p := range []*persister{g.persist, g.counts, g.share} {
		if p != nil {
			errs = append(errs, p.flush(ctx))
		}
	}
	return errors.Join(errs...)
}

// Close writes what waits for the Store and the Fleet and stops writing to
// them; the Guard goes on judging events, but their changes are no longer
// kept or shared. It closes neither, which their opener owns.
func (g *Guard) Close(ctx context.Context) error {
	var errs []error
	for _, p := range []*persister{g.persist, g.counts, g.share} {
		if p != nil {
			errs = append(errs, p.close(ctx))
		}
	}
	return errors.Join(errs...)
}

// stored marks the records a batch wrote. It takes g.mu: the writer holds
// no lock of the persister meanwhile.
func (g *Guard) stored(refs []ref) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, r := range refs {
		if r.live() {
			r.e.flags &^= fUnstored
		}
	}
}

// storeRecord queues e for the store and, if share, for the fleet. g.mu
// must be held.
func (g *Guard) storeRecord(e *entry, share bool) {
	share = share && g.share != nil
	if g.persist == nil && !share {
		return
	}
	r := g.tab.record(e)
	c := Change{Op: OpRecord, Record: StoredRecord{
		Subject: r.Subject, Scope: r.Scope, Cause: r.Cause, Level: r.Level, Since: r.Since, Until: r.Until,
		Proven: r.Proven, Device: e.is(fDevice), OthersOK: e.is(fOthersOK), KnownDevice: e.is(fKnownDev), Evidence: r.Evidence,
	}}
	now := g.now()
	if g.persist != nil {
		e.flags |= fUnstored
		g.persist.add(c, ref{e, e.gen}, now)
	}
	if share {
		g.share.add(c, ref{}, now)
	}
}

// storeEnd queues the end of sub's record, kept as offence o.
func (g *Guard) storeEnd(sub detect.Subject, o offence) {
	if g.persist != nil {
		g.persist.add(Change{Op: OpEnd, Offence: Offence{Subject: sub, Level: o.level, End: o.end, Proven: o.proven}}, ref{}, g.now())
	}
}

// storeDevice queues a proven login of ev's device at where. The event's
// strings may alias a packet buffer: they are copied, clipped as the
// known devices' keys are.
func (g *Guard) storeDevice(where netip.Addr, ev *detect.Event) {
	if g.persist != nil {
		g.persist.add(Change{Op: OpDevice, Device: KnownDevice{Where: where,
			Account: strings.Clone(clip(ev.Account, maxName)), UserAgent: strings.Clone(clip(ev.UserAgent, maxAgent)), Last: ev.Time,
			Port: ev.Source.Port(), Instance: strings.Clone(clip(ev.Instance, maxAgent)), Contact: strings.Clone(clip(ev.Contact, maxAgent))}}, ref{}, ev.Time)
	}
}

// storeError is what Record.StoreError says of a record not yet stored:
// nothing while the store keeps up.
func (g *Guard) storeError(flags uint8) string {
	if flags&fUnstored == 0 || g.persist == nil {
		return ""
	}
	if err := g.persist.lastErr(); err != nil {
		return "not stored yet: " + err.Error()
	}
	return ""
}

// age forgets, in memory and in the store, the offences older than
// Policy.ForgetAfter, and asks the store to forget the devices, lifts and
// failures that no longer count. Run calls it hourly.
func (g *Guard) age(now time.Time) {
	g.mu.Lock()
	for sub, o := range g.history {
		if now.Sub(o.end) >= g.pol.ForgetAfter {
			delete(g.history, sub)
		}
	}
	g.mu.Unlock()
	if g.persist != nil {
		g.persist.add(Change{Op: OpAge, Age: Age{
			Offences: now.Add(-g.pol.ForgetAfter),
			Devices:  now.Add(-g.pol.KnownFor),
			Lifts:    now.Add(-max(g.pol.SelfLiftPeriod, g.pol.Probation, g.pol.ForgetAfter)),
			Failures: now.Add(-g.countsFor()),
		}}, ref{}, now)
	}
}
