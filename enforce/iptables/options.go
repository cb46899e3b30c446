package iptables

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/sipban/sipban/internal/scope"
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
	// Ports are the destination ports, TCP and UDP alike, whose packets a
	// ban drops; a banned source still reaches every other port, so that
	// a ban, perhaps of a spoofed address, never cuts ssh or an admin
	// API. Empty means 5060 and 5061: SIP over UDP and TCP, and over
	// TLS. At most MaxPorts; port 0, and Ports given with AllPorts, are
	// refused.
	Ports []uint16
	// AllPorts makes a ban drop every packet from the source, whatever
	// its protocol and port. False means Ports only.
	AllPorts bool
	// Allow lists prefixes whose packets no ban drops, even a ban on a
	// wider prefix that holds them (an IPv4 /24 or IPv6 /48 the Guard
	// aggregated): the operator's own addresses. They go in two more
	// ipsets, Name+"4a" and Name+"6a", which every rule excludes. Empty
	// means none.
	Allow []netip.Prefix
}

// settings are Options with defaults applied, and Allow split by family.
type settings struct {
	Options
	allow [2][]netip.Prefix // IPv4, IPv6
}

const (
	// DefaultName is the set name prefix used when Options.Name is empty:
	// the sets are "sipban4" and "sipban6".
	DefaultName = "sipban"
	// MaxNameLen is the longest Options.Name: ipset names hold 31 bytes,
	// and the Enforcer appends a family digit and one more byte, for an
	// allow set or while rebuilding a set.
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
	// MaxPorts is the most Options.Ports: iptables' multiport match takes
	// 15 ports ("too many ports specified" beyond).
	MaxPorts = 15
)

// ErrFull is returned, wrapped with the set's name and maxelem, by a ban
// that does not fit: the set already holds Options.MaxElem bans. Bans made
// before it stay; replacing the expiry of a ban the set holds still works.
var ErrFull = errors.New("iptables: ipset full")

// ErrClosed is returned by changes and lists made after Close.
var ErrClosed = errors.New("iptables: enforcer closed")

func (opts Options) withDefaults() (settings, error) {
	o := settings{Options: opts}
	var err error
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
	if o.Ports, err = scope.Ports(o.Ports, o.AllPorts); err != nil {
		return o, fmt.Errorf("iptables: %w", err)
	}
	if len(o.Ports) > MaxPorts {
		return o, fmt.Errorf("iptables: %d ports: iptables' multiport match takes at most %d", len(o.Ports), MaxPorts)
	}
	if o.allow[0], o.allow[1], err = scope.Allow(o.Allow); err != nil {
		return o, fmt.Errorf("iptables: %w", err)
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
