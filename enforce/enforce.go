package enforce

import (
	"context"
	"errors"
	"net/netip"
	"time"
)

// ErrUnsupported is returned by enforcers that cannot work on this system.
var ErrUnsupported = errors.New("enforce: not supported on this system")

// Enforcer makes bans real.
//
// Ban blocks every source address inside p until the given time; banning a
// prefix that is already banned replaces its expiry. Unban lifts a ban; lifting
// one that is absent or already expired is not an error. Both must be safe for
// concurrent use. A cancelled ctx may abandon the change and return ctx.Err();
// the enforcer must then be left as it was or with the change fully made.
// Prefixes are masked and IPv4 prefixes are never written in IPv4-mapped IPv6
// form; an invalid prefix is an error.
type Enforcer interface {
	Ban(ctx context.Context, p netip.Prefix, until time.Time) error
	Unban(ctx context.Context, p netip.Prefix) error
}

// Closer is implemented by enforcers that hold resources.
type Closer interface {
	Close() error
}

// Ban is one ban as an enforcer holds it.
type Ban struct {
	Prefix netip.Prefix
	Until  time.Time
}

// Lister is implemented by enforcers whose bans can outlive the process, such
// as kernel sets with their own timeouts. List returns the unexpired bans the
// enforcer holds, in no particular order; ban.Guard.Reconcile uses it at
// start-up to adopt what a previous run left behind.
type Lister interface {
	List(ctx context.Context) ([]Ban, error)
}

// Repairer is implemented by enforcers whose setup can be undone from
// outside the process: a table flushed by a firewall reload, a rule
// deleted by hand. Repair puts back what is missing and changes nothing
// when all is in place; lost reports that bans went with what it rebuilt
// (a set or table was removed), so that the caller installs them again,
// as ban.Guard.Resync does.
type Repairer interface {
	Repair(ctx context.Context) (lost bool, err error)
}

// Capper is implemented by enforcers that keep a ban for at most
// MaxTimeout (a kernel's limit on timeouts) and silently shorten longer
// ones; ban.Guard.Resync installs such bans again before that time is up.
type Capper interface {
	MaxTimeout() time.Duration
}

// Batcher is implemented by enforcers for which many changes at once are
// much cheaper than one at a time (a netlink round trip each). BanAll and
// UnbanAll mean the same as calling Ban or Unban for each element, and have
// the same contract on a cancelled ctx for each element.
type Batcher interface {
	BanAll(ctx context.Context, bans []Ban) error
	UnbanAll(ctx context.Context, prefixes []netip.Prefix) error
}

// Counter is implemented by enforcers that count what their bans drop,
// such as kernel rules with counters. Dropped returns the packets and bytes
// dropped since the enforcer installed its rules; the counts start again at
// zero when it builds them anew (see Repairer), as a Prometheus counter
// may. It must be safe for concurrent use with the other methods.
type Counter interface {
	Dropped(ctx context.Context) (packets, bytes uint64, err error)
}
