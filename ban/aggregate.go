package ban

import (
	"fmt"
	"net/netip"

	"github.com/sipban/sipban/detect"
)

// aggregateOf returns the wider prefix that address bans on p count toward,
// and how many make it banned, if the policy aggregates p's family.
func (g *Guard) aggregateOf(p netip.Prefix) (q netip.Prefix, threshold int, ok bool) {
	thr, bits := g.pol.Aggregate6, g.pol.Aggregate6Bits
	if p.Addr().Is4() {
		thr, bits = g.pol.Aggregate4, g.pol.Aggregate4Bits
	}
	if thr <= 0 || p.Bits() <= bits {
		return netip.Prefix{}, 0, false
	}
	q, _ = p.Addr().Prefix(bits)
	return q, thr, true
}

// aggregate returns the finding that bans the wider prefix h's ban lies in,
// once Policy.Aggregate6 (or Aggregate4) proven address bans lie there: an
// IPv6 attacker rotating through its /48 holds 65,536 /64s. Bans made without
// proof never count, so forged sources cannot widen a ban over a customer.
// Allow-listed prefixes are never inside one: admit refuses a subject that
// overlaps them. f is the finding h was made of.
func (g *Guard) aggregate(h held, f *detect.Finding) *detect.Finding {
	if h.scope != scopeAddress || !f.Proven {
		return nil
	}
	q, thr, ok := g.aggregateOf(h.sub.Prefix)
	if !ok {
		return nil
	}
	g.mu.RLock()
	n := g.within[q]
	g.mu.RUnlock()
	if n < thr {
		return nil
	}
	ev := &f.Evidence
	return &detect.Finding{
		Cause:   h.cause,
		Subject: detect.Subject{Prefix: q},
		Proven:  true,
		Evidence: detect.Evidence{
			Count: n, First: ev.First, Last: ev.Last,
			Accounts: ev.Accounts, UserAgents: ev.UserAgents, Statuses: ev.Statuses,
			Detail: fmt.Sprintf("%d banned prefixes inside %v, the last for %v", n, q, h.cause),
		},
	}
}
