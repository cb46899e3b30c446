package banhttp

import (
	"net/netip"
	"slices"

	"github.com/sipban/sipban/ban"
)

// Viewer is who a request comes from, as Options.Authorize tells.
type Viewer struct {
	// Name identifies the viewer: it is recorded with each lift
	// (ban.LiftRequest.By), counts a customer's self-service lifts and ties
	// the form's token to the viewer. Customers must have distinct names.
	Name string
	// Operator sees and lifts every record.
	Operator bool
	// Owns reports whether a record is the customer's own; nil owns
	// nothing. Operators need none.
	Owns func(*ban.Record) bool
	// Account reports whether an account name is the customer's; nil
	// means all are. Set it where unrelated customers share an address
	// (carrier-grade NAT, a shared building): a customer then reads a
	// record without the devices at its address that used none of their
	// accounts, others' account names and who else lifted it; and one
	// those devices caused, without the culprit's User-Agent, ports or the
	// diagnosis' prose, which would describe it.
	Account func(name string) bool
}

// Operator returns an operator named name.
func Operator(name string) Viewer { return Viewer{Name: name, Operator: true} }

// Customer returns a customer named name who owns the records owns
// reports.
func Customer(name string, owns func(*ban.Record) bool) Viewer {
	return Viewer{Name: name, Owns: owns}
}

func (v Viewer) sees(r *ban.Record) bool {
	return v.Operator || v.Owns != nil && v.Owns(r)
}

// redact leaves in r, a record the customer v sees, only what is theirs,
// as Account says, in t's language, and returns how many devices it left
// out.
func (v Viewer) redact(r *ban.Record, t texts) (hidden int) {
	if v.Operator {
		return 0
	}
	for i := range r.Lifts {
		if !r.Lifts[i].Operator && r.Lifts[i].By != v.Name {
			r.Lifts[i].By = ""
		}
	}
	if v.Account == nil {
		return 0
	}
	d, ev := &r.Diagnosis, &r.Evidence
	mine := v.Account
	if d.DidYouMean != "" {
		if !v.Account(d.DidYouMean) {
			d.DidYouMean = ""
		} else {
			// A typo of one of theirs: the mistyped name is theirs too.
			typo := r.Subject.Account
			if typo == "" && len(ev.Accounts) > 0 {
				typo = ev.Accounts[0]
			}
			mine = func(n string) bool { return n == typo || v.Account(n) }
		}
	}
	suspects, theirs := false, false // theirs: a device that used their accounts is to blame
	var devs []ban.Device
	for _, dev := range d.Devices {
		dev.Accounts = only(dev.Accounts, mine)
		if dev.Suspect {
			suspects = true
			theirs = theirs || len(dev.Accounts) > 0
		}
		if len(dev.Accounts) == 0 {
			hidden++
			continue
		}
		devs = append(devs, dev)
	}
	d.Devices = devs
	ev.Accounts = only(ev.Accounts, mine)
	if !suspects {
		theirs = len(ev.Accounts) > 0
	}
	// A block of their account is about their device, whatever the
	// inventory holds.
	if !theirs && !(r.Subject.Account != "" && mine(r.Subject.Account)) {
		ev.UserAgents, ev.Ports, ev.Detail = nil, nil, ""
		d.Device = ""
		d.Summary = t.T("others.summary")
		d.Advice = []string{t.T("others.advice.yours"), t.T("others.advice.provider")}
		if r.SelfLiftable() {
			d.Advice[1] = t.T("others.advice.lift")
		}
	}
	return hidden
}

// only returns the names keep reports.
func only(names []string, keep func(string) bool) []string {
	var out []string
	for _, n := range names {
		if keep(n) {
			out = append(out, n)
		}
	}
	return out
}

// Scope is what a customer owns: their addresses and prefixes, and their
// accounts. The zero Scope owns nothing.
type Scope struct {
	Prefixes []netip.Prefix
	Accounts []string
}

// Owns reports whether r's subject is inside one of s's prefixes (a wider
// prefix, which covers others' addresses too, is not theirs), or names one
// of s's accounts: blocked at some address, or guarded everywhere.
func (s Scope) Owns(r *ban.Record) bool {
	sub := r.Subject
	if sub.Account != "" && slices.Contains(s.Accounts, sub.Account) {
		return true
	}
	if !sub.Prefix.IsValid() {
		return false
	}
	for _, p := range s.Prefixes {
		if p.Bits() <= sub.Prefix.Bits() && p.Contains(sub.Prefix.Addr()) {
			return true
		}
	}
	return false
}
