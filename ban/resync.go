package ban

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sipban/sipban/enforce"
)

// Resync puts back what kernel enforcers lost while the Guard runs, without
// reading their bans back (a kernel dump of 100,000 bans takes seconds):
//
//   - an enforce.Repairer rebuilds its table, set or rule if something
//     outside removed it (a firewall reload that flushes the ruleset); if
//     bans went with it, it gets all the Guard's address-wide bans again;
//   - a ban an enforcer refused (Record.EnforceError) is tried again, and
//     the error cleared once every enforcer took it;
//   - a ban longer than an enforce.Capper's MaxTimeout is installed again
//     before the kernel's time runs out, once less than two
//     Options.ResyncEvery remain of it.
//
// Resync lifts nothing: a ban the Guard does not know may belong to another
// program sharing the table. Run calls it; it returns how many bans it
// installed again, and the enforcers' errors joined.
func (g *Guard) Resync(ctx context.Context) (restored int, err error) {
	var errs []error
	lost := make([]bool, len(g.enforcers))
	for i, en := range g.enforcers {
		r, ok := en.(enforce.Repairer)
		if !ok {
			continue
		}
		l, rerr := r.Repair(ctx)
		if rerr != nil {
			errs = append(errs, fmt.Errorf("ban: resync: repair %T: %w", en, rerr))
		}
		lost[i] = l
	}
	// Under enf, the records read are the latest: a ban lifted from here
	// on is lifted after it is put back, not before.
	g.enf.lock()
	defer g.enf.unlock()
	now := g.now()
	margin := 2 * time.Minute
	if g.resync > 0 {
		margin = 2 * g.resync
	}
	var caps []time.Duration
	for _, en := range g.enforcers {
		if c, ok := en.(enforce.Capper); ok && c.MaxTimeout() > 0 {
			caps = append(caps, c.MaxTimeout())
		}
	}
	all, hs := g.addressBans(now)
	var again []enforce.Ban
	var due []held
	g.mu.RLock()
	for i, h := range hs {
		if h.live() && (g.tab.errorOf(h.e) != "" || capped(h.e, caps, now, margin)) {
			again = append(again, all[i])
			due = append(due, h)
		}
	}
	g.mu.RUnlock()

	failed := false
	for i, en := range g.enforcers {
		bans := again
		if lost[i] {
			bans = all
		}
		if len(bans) == 0 {
			continue
		}
		restored = max(restored, len(bans))
		if berr := banAll(ctx, en, bans); berr != nil {
			failed = true
			errs = append(errs, fmt.Errorf("ban: resync: %T: %w", en, berr))
		}
	}
	if restored > 0 {
		g.log.Warn("sipban: bans installed again", "count", restored)
	}
	g.installed(due, now, failed)
	return restored, errors.Join(errs...)
}

// capped reports whether an enforcer with one of caps will drop e's ban,
// installed at e.pushed, before the Guard ends it and within margin.
func capped(e *entry, caps []time.Duration, now time.Time, margin time.Duration) bool {
	until := e.untilTime()
	for _, c := range caps {
		end := e.pushedTime().Add(c)
		if end.Before(until) && end.Sub(now) < margin {
			return true
		}
	}
	return false
}
