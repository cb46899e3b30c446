package ban

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/sipban/sipban/detect"
)

// ErrRestored is returned by Restore called after the Guard made or
// restored records: a restore merges into nothing but a new Guard.
var ErrRestored = errors.New("ban: restore: the Guard already holds records")

// Restore reads back what Options.Store kept, as a program should at
// start-up before it serves traffic: the active records, with their
// evidence and level, the offence history, the known devices, and the
// customers' lifts and probations. The detectors that count in their
// process (detect.Replayer) are given back the failures with proof still
// within the longest of the standard detector's windows, so that a guesser
// gains nothing from a restart; then those that remember logins
// (detect.Truster) are told of the ones still within the trust window, so
// their addresses stay trusted; the devices of the last day are listed at
// their sites again, for explanations and the customers' views. Records
// that ended while the program was away become history, and the store
// forgets them, and the failures that no longer count. The address-wide
// bans hold in memory at once; call Reconcile next, which installs them in
// the kernel enforcers, trusting these records over what the kernel holds.
// It returns how many active records it restored; without a Store, none. A
// record the table has no room for (Policy.MaxBans, lowered since) is left
// in the store and counted in the error.
func (g *Guard) Restore(ctx context.Context) (restored int, err error) {
	if g.persist == nil {
		return 0, nil
	}
	now := g.now()
	var ls []StoredLift
	var logins []KnownDevice
	var fails []Failure
	stale := false
	countsFor := g.countsFor()
	trustFor := g.trustWindow()
	full := 0
	g.mu.Lock()
	if g.tab.len() > 0 || len(g.history) > 0 {
		g.mu.Unlock()
		return 0, ErrRestored
	}
	lerr := g.store.Load(ctx, func(c Change) error {
		switch c.Op {
		case OpRecord:
			r := &c.Record
			sc, err := g.restorable(r)
			switch {
			case err != nil:
				return err
			case !now.Before(r.Until) || (r.Subject.Prefix.IsValid() && g.pol.allowedPrefix(r.Subject.Prefix)):
				o := offence{level: r.Level, end: r.Until, proven: r.Proven}
				g.remember(r.Subject, o)
				g.storeEnd(r.Subject, o)
			case g.tab.get(r.Subject) != nil:
				return fmt.Errorf("ban: restore: two records on %v", r.Subject)
			case g.tab.len() >= g.pol.MaxBans:
				full++
			default:
				g.install(r.Subject, sc, r.Cause, r.Level, r.Since.UnixNano(), r.Until.UnixNano(), r.flags(), &r.Evidence)
				restored++
			}
		case OpEnd:
			o := c.Offence
			if !o.Subject.IsValid() {
				return fmt.Errorf("ban: restore: offence on an invalid subject %v", o.Subject)
			}
			if old, ok := g.history[o.Subject]; now.Sub(o.End) < g.pol.ForgetAfter && (!ok || old.end.Before(o.End)) {
				g.remember(o.Subject, offence{level: o.Level, end: o.End, proven: o.Proven})
			}
		case OpDevice:
			d := c.Device
			if !d.Where.IsValid() {
				return fmt.Errorf("ban: restore: known device %q/%q with no address", d.Account, d.UserAgent)
			}
			if now.Sub(d.Last) < g.pol.KnownFor {
				g.known.restore(d.Where, g.known.device(d.Where, d.Account, d.UserAgent), d.Last.Unix())
			}
			if age := now.Sub(d.Last); age <= trustFor || age < deviceWindow {
				logins = append(logins, d)
			}
		case OpLift:
			if !c.Lift.Subject.IsValid() {
				return fmt.Errorf("ban: restore: lift of an invalid subject %v", c.Lift.Subject)
			}
			ls = append(ls, c.Lift)
		case OpFailure:
			f := c.Failure
			if !f.Forget.IsValid() && !f.Source.Addr().IsValid() {
				return fmt.Errorf("ban: restore: failure at %v with no source", f.At)
			}
			switch {
			case now.Sub(f.At) >= countsFor:
				stale = true
			case g.counts != nil:
				fails = append(fails, f)
			}
		default:
			return fmt.Errorf("ban: restore: the store gave a change %v (%d)", c.Op, c.Op)
		}
		return ctx.Err()
	})
	g.mu.Unlock()
	bans, _ := g.addressBans(now)
	g.restored.Store(restored > 0)
	g.restoreLifts(ls, now)
	g.replayFailures(fails)
	if stale {
		g.persist.add(Change{Op: OpAge, Age: Age{Failures: now.Add(-countsFor)}}, ref{}, now)
	}
	g.restoreTrust(logins, now, trustFor)
	errs := []error{lerr}
	if lerr != nil {
		errs[0] = fmt.Errorf("ban: restore: %w", lerr)
	}
	if full > 0 {
		errs = append(errs, fmt.Errorf("ban: restore: %d records left in the store: %w", full, ErrTooManyBans))
	}
	errs = append(errs, banAll(ctx, g.mem, bans))
	if restored > 0 || full > 0 || len(fails) > 0 {
		g.log.Info("sipban: restored", "records", restored, "address_bans", len(bans), "left", full, "failures", len(fails))
	}
	return restored, errors.Join(errs...)
}

// restoreTrust tells the detectors that remember logins of those still
// within their trust window, oldest first, as they were seen, and lists
// those of the last deviceWindow at their sites, so that explanations and
// the customers' views of their records name them again.
func (g *Guard) restoreTrust(logins []KnownDevice, now time.Time, trustFor time.Duration) {
	slices.SortFunc(logins, func(a, b KnownDevice) int { return a.Last.Compare(b.Last) })
	for i := range logins {
		d := &logins[i]
		age := now.Sub(d.Last)
		if age < deviceWindow {
			g.sites.note(d.Where, &detect.Event{Source: netip.AddrPortFrom(d.Where, d.Port), Account: d.Account,
				UserAgent: d.UserAgent, Instance: d.Instance, Contact: d.Contact, Time: d.Last}, true)
		}
		if age > trustFor {
			continue
		}
		for _, t := range g.trust {
			t.Trust(d.Where, d.Account, d.Last)
		}
	}
}

// trustWindow is how long a proven login makes its address trusted.
func (g *Guard) trustWindow() time.Duration {
	if g.standard != nil {
		return g.standard.Limits().TrustWindow
	}
	return cmp.Or(g.pol.Limits.TrustWindow, detect.DefaultLimits().TrustWindow)
}

// flags are r's entry flags.
func (r *StoredRecord) flags() uint8 {
	return flagIf(r.Proven, fProven) | flagIf(r.Device, fDevice) | flagIf(r.OthersOK, fOthersOK) | flagIf(r.KnownDevice, fKnownDev)
}

// restorable checks a stored record and returns its packed scope.
func (g *Guard) restorable(r *StoredRecord) (uint8, error) {
	sc := scopeCode(r.Scope)
	switch {
	case !r.Subject.IsValid():
		return 0, fmt.Errorf("ban: restore: record on an invalid subject %v", r.Subject)
	case scopeNames[sc] != r.Scope:
		return 0, fmt.Errorf("ban: restore: record on %v has scope %q", r.Subject, r.Scope)
	case sc == scopeAddress && (!r.Subject.Prefix.IsValid() || r.Subject.Account != ""):
		return 0, fmt.Errorf("ban: restore: address ban on %v is not on an address", r.Subject)
	case r.Level < 0 || r.Until.Before(r.Since):
		return 0, fmt.Errorf("ban: restore: record on %v: level %d, %v to %v", r.Subject, r.Level, r.Since, r.Until)
	}
	return sc, nil
}

// restoreLifts puts back the lifts kept, oldest first, as they were made:
// the latest notes per subject, each customer's lifts still counted
// against their limit, and the probations still running.
func (g *Guard) restoreLifts(ls []StoredLift, now time.Time) {
	slices.SortFunc(ls, func(a, b StoredLift) int { return cmp.Compare(a.Note.At.UnixNano(), b.Note.At.UnixNano()) })
	l := g.lifts
	for _, sl := range ls {
		l.note(sl.Subject, sl.Note)
		if sl.Note.Operator {
			continue
		}
		l.counted(sl.Note.By, sl.Note.At, now, g.pol.SelfLiftPeriod)
		if p := sl.Probation; p != nil && now.Before(p.Until) {
			l.probe(sl.Subject, probation{until: p.Until, cause: p.Cause, fixed: p.Fixed, guard: p.Guard,
				flags: flagIf(p.Device, fDevice) | flagIf(p.OthersOK, fOthersOK)})
		}
	}
}
