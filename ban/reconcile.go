package ban

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/sipban/sipban/detect"
	"github.com/sipban/sipban/enforce"
)

// Reconcile brings the Guard and its enforcers into agreement, as a program
// should at start-up, before it serves traffic. Bans found in an enforcer
// that can list them (enforce.Lister; kernel sets outlive the process) and
// unknown to the Guard are adopted: recorded with cause "unknown" and their
// remaining time, so that they can be seen and lifted. Bans on allow-listed
// prefixes are lifted instead. Every enforcer then gets every address-wide
// ban the Guard holds, in batches where it is an enforce.Batcher. It returns
// how many bans it adopted; on an enforcer's error it goes on with the
// others and returns the errors joined.
func (g *Guard) Reconcile(ctx context.Context) (adopted int, err error) {
	g.enf.Lock()
	defer g.enf.Unlock()
	now := g.now()
	var errs []error
	for _, en := range g.enforcers[1:] {
		l, ok := en.(enforce.Lister)
		if !ok {
			continue
		}
		bans, lerr := l.List(ctx)
		if lerr != nil {
			errs = append(errs, fmt.Errorf("ban: reconcile: list %T: %w", en, lerr))
			continue
		}
		var allowed []netip.Prefix
		for _, b := range bans {
			switch {
			case g.pol.allowedPrefix(b.Prefix):
				allowed = append(allowed, b.Prefix)
			case !now.Before(b.Until):
			case g.adopt(b, fmt.Sprintf("%T", en), now):
				adopted++
			}
		}
		for _, p := range allowed {
			g.log.Info("sipban: allow-listed ban lifted", "subject", p, "enforcer", fmt.Sprintf("%T", en))
			if uerr := en.Unban(ctx, p); uerr != nil {
				errs = append(errs, fmt.Errorf("ban: reconcile: lift %v: %w", p, uerr))
			}
		}
	}
	want := g.addressBans(now)
	for _, en := range g.enforcers {
		if berr := banAll(ctx, en, want); berr != nil {
			errs = append(errs, fmt.Errorf("ban: reconcile: %T: %w", en, berr))
		}
	}
	return adopted, errors.Join(errs...)
}

// Resync puts back what kernel enforcers lost while the Guard runs. An
// enforce.Repairer first rebuilds its table or rule if something outside
// removed it (a firewall reload that flushes the ruleset). Then each
// enforce.Lister gets the Guard's address-wide bans it lacks, and those it
// would end too soon: a kernel that caps timeouts (nftables at 20 days)
// drops a longer ban early, so it is installed again once less than two
// Options.ResyncEvery remain of the kernel's time. Resync lifts nothing:
// a ban the Guard does not know may belong to another program sharing the
// table. Run calls it; it returns how many bans it put back, and the
// enforcers' errors joined.
func (g *Guard) Resync(ctx context.Context) (restored int, err error) {
	margin := 2 * time.Minute
	if g.resync > 0 {
		margin = 2 * g.resync
	}
	var errs []error
	for _, en := range g.enforcers[1:] {
		if r, ok := en.(enforce.Repairer); ok {
			if rerr := r.Repair(ctx); rerr != nil {
				errs = append(errs, fmt.Errorf("ban: resync: repair %T: %w", en, rerr))
			}
		}
		l, ok := en.(enforce.Lister)
		if !ok {
			continue
		}
		held, lerr := l.List(ctx)
		if lerr != nil {
			errs = append(errs, fmt.Errorf("ban: resync: list %T: %w", en, lerr))
			continue
		}
		n, perr := g.restore(ctx, en, held, margin)
		restored += n
		if perr != nil {
			errs = append(errs, fmt.Errorf("ban: resync: %T: %w", en, perr))
		}
	}
	return restored, errors.Join(errs...)
}

// restore installs in en the address-wide bans it does not hold, or holds
// for less than the Guard and for under margin more.
func (g *Guard) restore(ctx context.Context, en enforce.Enforcer, held []enforce.Ban, margin time.Duration) (int, error) {
	until := make(map[netip.Prefix]time.Time, len(held))
	for _, b := range held {
		until[b.Prefix] = b.Until
	}
	// Under enf, the records read are the latest: a ban lifted from here
	// on is lifted after it is put back, not before.
	g.enf.Lock()
	defer g.enf.Unlock()
	now := g.now()
	var missing []enforce.Ban
	for _, b := range g.addressBans(now) {
		u, ok := until[b.Prefix]
		// A second's slack: kernels keep whole seconds or milliseconds.
		if !ok || b.Until.Sub(u) > time.Second && u.Sub(now) < margin {
			missing = append(missing, b)
		}
	}
	if len(missing) == 0 {
		return 0, nil
	}
	g.log.Warn("sipban: bans put back", "enforcer", fmt.Sprintf("%T", en), "count", len(missing))
	return len(missing), banAll(ctx, en, missing)
}

// adopt records a ban found in an enforcer, unless the Guard has one on the
// same prefix already; it reports whether it did.
func (g *Guard) adopt(b enforce.Ban, from string, now time.Time) bool {
	sub := detect.Subject{Prefix: b.Prefix}
	g.mu.Lock()
	defer g.mu.Unlock()
	if e, ok := g.records[sub]; ok && now.Before(e.rec.Until) {
		return false
	}
	if len(g.records) >= g.pol.MaxBans {
		return false
	}
	rec := Record{
		Subject: sub,
		Scope:   "address",
		Cause:   detect.CauseUnknown,
		Since:   now,
		Until:   b.Until,
		Diagnosis: Diagnosis{
			Summary: fmt.Sprintf("All traffic from %v is dropped by a ban found in %s at start-up; why it was made was not kept.", b.Prefix, from),
			Device:  "unknown",
			Advice: []string{
				"If the address is yours, check the devices there (passwords, accounts, dial plans) before lifting the ban.",
				"Lift it if you know it to be harmless; it ends by itself at the time shown.",
			},
		},
	}
	e := &entry{rec: rec}
	g.records[sub] = e
	heap.Push(&g.expiry, e)
	g.remember(sub, offence{end: rec.Until})
	g.log.Info("sipban: adopted ban", "subject", sub, "enforcer", from, "until", rec.Until.Format(time.RFC3339))
	return true
}

// addressBans returns the active address-wide bans.
func (g *Guard) addressBans(now time.Time) []enforce.Ban {
	g.mu.RLock()
	defer g.mu.RUnlock()
	out := make([]enforce.Ban, 0, len(g.records))
	for sub, e := range g.records {
		if sub.Account == "" && now.Before(e.rec.Until) {
			out = append(out, enforce.Ban{Prefix: sub.Prefix, Until: e.rec.Until})
		}
	}
	return out
}

// banAll installs bans in en, in one call if it batches.
func banAll(ctx context.Context, en enforce.Enforcer, bans []enforce.Ban) error {
	if b, ok := en.(enforce.Batcher); ok {
		return b.BanAll(ctx, bans)
	}
	var errs []error
	for _, b := range bans {
		if err := en.Ban(ctx, b.Prefix, b.Until); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// unbanAll lifts prefixes in en, in one call if it batches.
func unbanAll(ctx context.Context, en enforce.Enforcer, prefixes []netip.Prefix) error {
	if b, ok := en.(enforce.Batcher); ok {
		return b.UnbanAll(ctx, prefixes)
	}
	var errs []error
	for _, p := range prefixes {
		if err := en.Unban(ctx, p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
