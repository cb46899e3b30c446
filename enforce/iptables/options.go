package iptables

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Options configure an Enforcer. The zero value is usable.
type Options struct {
	// Name names the two ipsets the Enforcer owns: Name+"4" for IPv4 and
	// Name+"6" for IPv6. Empty means DefaultName. At most MaxNameLen
	// letters, digits, '_' and '-'. Two Enforcers must not share a Name.
	Name string
	// MaxElem is the most bans each set holds (ipset's maxelem); a ban
	// beyond it fails with ErrFull. Zero means DefaultMaxElem. A set left
	// by an earlier run with another maxelem is rebuilt to this one, its
	// bans copied over.
	MaxElem int
	// Keep leaves the sets, their bans and the rules in the kernel on
	// Close, so that bans outlive the process until their timeouts; the
	// next New with the same Name adopts them. False removes them.
	Keep bool
	// Now is the clock that turns expiry times into kernel timeouts and
	// back. Nil means time.Now.
	Now func() time.Time
}

const (
	// DefaultName is the set name prefix used when Options.Name is empty:
	// the sets are "sipban4" and "sipban6".
	DefaultName = "sipban"
	// MaxNameLen is the longest Options.Name: ipset names hold 31 bytes,
	// and the Enforcer appends a family digit and, while rebuilding a set,
	// one more byte.
	MaxNameLen = 29
	// DefaultMaxElem is the maxelem used when Options.MaxElem is zero: a
	// little over a million bans per family. ipset's own default, 65,536,
	// is small enough for an attack from many addresses to fill. The
	// kernel allocates as elements arrive, not up front: a full set takes
	// about 40 MB (IPv4) or 60 MB (IPv6).
	DefaultMaxElem = 1 << 20
	// MaxTimeout is the longest timeout ipset keeps (2,147,483 s, about 24
	// days 20 hours); longer bans are installed for MaxTimeout. The
	// in-memory ban still holds, and ban.Guard.Resync installs it again
	// before the kernel drops it.
	MaxTimeout = 2147483 * time.Second
	// RuleComment is the comment on the rules the Enforcer inserts
	// (iptables -m comment), so that iptables -S tells who put them there.
	RuleComment = "sipban"
)

// ErrFull is returned, wrapped with the set's name and maxelem, by a ban
// that does not fit: the set already holds Options.MaxElem bans. Bans made
// before it stay; replacing the expiry of a ban the set holds still works.
var ErrFull = errors.New("iptables: ipset full")

// ErrClosed is returned by changes and lists made after Close.
var ErrClosed = errors.New("iptables: enforcer closed")

func (o Options) withDefaults() (Options, error) {
	if o.Name == "" {
		o.Name = DefaultName
	}
	if len(o.Name) > MaxNameLen {
		return o, fmt.Errorf("iptables: set name %q longer than %d bytes", o.Name, MaxNameLen)
	}
	for _, c := range o.Name {
		if !(c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return o, fmt.Errorf("iptables: set name %q: only letters, digits, '_' and '-'", o.Name)
		}
	}
	switch {
	case o.MaxElem == 0:
		o.MaxElem = DefaultMaxElem
	case o.MaxElem < 0 || uint64(o.MaxElem) > math.MaxUint32:
		return o, fmt.Errorf("iptables: maxelem %d: want 1 to %d", o.MaxElem, uint32(math.MaxUint32))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}

// timeout converts an expiry to an ipset timeout: whole seconds, rounded up
// so that a ban never ends early, at most MaxTimeout. Zero means the expiry
// has passed. (ipset reads a timeout of 0 as "forever", so a ban must never
// be sent one.)
func timeout(until, now time.Time) uint32 {
	d := until.Sub(now)
	if d <= 0 {
		return 0
	}
	if d >= MaxTimeout {
		return uint32(MaxTimeout / time.Second)
	}
	return uint32((d + time.Second - 1) / time.Second)
}
