package ban

import (
	"context"
	"errors"
	"fmt"
)

// Follow takes in what the other edges of Options.Fleet share until ctx is
// done, and returns ctx.Err(); without a Fleet it returns at once, nil.
// Run calls it; a program that calls Expire itself, rather than Run, calls
// Follow instead.
func (g *Guard) Follow(ctx context.Context) error {
	if g.fleet == nil {
		return nil
	}
	err := g.fleet.Follow(ctx, func(c Change) {
		switch c.Op {
		case OpRecord:
			g.imported(ctx, &c.Record)
		case OpEnd:
			g.liftedElsewhere(ctx, c.Offence)
		}
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("ban: fleet: %w", err)
}

// imported holds a record another edge made, judged by this edge's policy:
// never on its allow-list, never over a record that covers it, within its
// table's bounds. It is stored here, so that it holds after a restart, and
// not shared again.
func (g *Guard) imported(ctx context.Context, r *StoredRecord) {
	sc, err := g.restorable(r)
	if err != nil {
		g.log.Warn("sipban: fleet record refused", "error", err)
		return
	}
	now := g.now()
	if !now.Before(r.Until) || (r.Subject.Prefix.IsValid() && g.pol.allowedPrefix(r.Subject.Prefix)) {
		return
	}
	g.mu.Lock()
	evicted, ok, _ := g.makeRoom(r.Subject, sc, r.Proven, r.Cause, now)
	if !ok {
		g.mu.Unlock()
		return
	}
	e := g.install(r.Subject, sc, r.Cause, r.Level, r.Since.UnixNano(), r.Until.UnixNano(), r.flags(), &r.Evidence)
	g.storeRecord(e, false)
	h := e.hold()
	g.mu.Unlock()
	g.forgetAll(h.sub, false)
	// The enforcers' errors are on the record and in the log.
	_ = g.apply(ctx, h, evicted)
	g.notify(h, r.Proven, r.Evidence.Detail, "fleet")
}

// liftedElsewhere lifts here the record another edge lifted: the one it
// shared, which ends when o says; a record of this edge's own on the same
// subject stands.
func (g *Guard) liftedElsewhere(ctx context.Context, o Offence) {
	g.mu.Lock()
	e := g.tab.get(o.Subject)
	if e == nil || e.until != o.End.UnixNano() {
		g.mu.Unlock()
		return
	}
	h := g.drop(e)
	g.mu.Unlock()
	g.stats.lifted.Add(1)
	g.log.Info("sipban: lifted", "subject", h.sub, "cause", h.cause, "from", "fleet")
	if err := g.unenforce(ctx, []held{h}, true); err != nil && !errors.Is(err, context.Canceled) {
		g.log.Error("sipban: fleet lift", "subject", h.sub, "error", err)
	}
}
