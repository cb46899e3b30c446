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
