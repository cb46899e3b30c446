package ban

import (
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
//
// After a Restore that brought records back, the records are the truth:
// Reconcile installs them and reads nothing back (reading a kernel set of
// a million bans takes minutes: the kernel walks it from its start for
// each message of the dump). Kernel bans the store did not know then end
// at their own kernel timeout, and allow-listed prefixes are exempt in the
// kernel whatever its sets hold.
func (g *Guard) Reconcile(ctx context.Context) (adopted int, err error) {
	g.enf.lock()
	defer g.enf.unlock()
	now := g.now()
	var errs []error
	for _, en := range g.enforcers[1:] {
		l, ok := en.(enforce.Lister)
		if !ok || g.restored.Load() {
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
	want, es := g.addressBans(now)
	failed := false
	for _, en := range g.enforcers {
		if berr := banAll(ctx, en, want); berr != nil {
			failed = true
			errs = append(errs, fmt.Errorf("ban: reconcile: %T: %w", en, berr))
		}
	}
	g.installed(es, now, failed)
	return adopted, errors.Join(errs...)
}

// adopt records a ban found in an enforcer, unless the Guard has one on the
// same prefix already; it reports whether it did.
func (g *Guard) adopt(b enforce.Ban, from string, now time.Time) bool {
	sub := detect.Subject{Prefix: b.Prefix}
	ns := now.UnixNano()
	g.mu.Lock()
	defer g.mu.Unlock()
	old := g.tab.get(sub)
	if old != nil && old.active(ns) {
		return false
	}
	if g.tab.len() >= g.pol.MaxBans {
		return false
	}
	if old != nil {
		g.drop(old)
	}
	// Why it was made is lost: unproven, the first to make room.
	e := g.install(sub, scopeAddress, detect.CauseUnknown, 0, ns, b.Until.UnixNano(), 0,
		&detect.Evidence{Detail: "found in " + from + " at start-up"})
	g.storeRecord(e, false)
	g.log.Info("sipban: adopted ban", "subject", sub, "enforcer", from, "until", b.Until.Format(time.RFC3339))
	return true
}

// addressBans returns the active address-wide bans and their entries.
func (g *Guard) addressBans(now time.Time) ([]enforce.Ban, []held) {
	ns := now.UnixNano()
	g.mu.RLock()
	defer g.mu.RUnlock()
	bans := make([]enforce.Ban, 0, g.tab.len())
	hs := make([]held, 0, g.tab.len())
	g.tab.all(func(e *entry) bool {
		if e.scope == scopeAddress && e.active(ns) {
			h := e.hold()
			bans = append(bans, enforce.Ban{Prefix: h.sub.Prefix, Until: h.until})
			hs = append(hs, h)
		}
		return true
	})
	return bans, hs
}

// installed notes that es were installed in every enforcer at now, and
// unless one failed, that no enforcer lacks them any more.
func (g *Guard) installed(hs []held, now time.Time, failed bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, h := range hs {
		if !h.live() {
			continue
		}
		h.e.pushed = pushedAt(h.e, now)
		if !failed {
			g.tab.setError(h.e, "")
		}
	}
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
