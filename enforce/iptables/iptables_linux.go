package iptables

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	goipt "github.com/coreos/go-iptables/iptables"
	"golang.org/x/sys/unix"

	"github.com/sipban/sipban/enforce"
)

// Enforcer bans prefixes with an ipset per address family, matched by one
// rule per family in the raw table's PREROUTING chain. It is safe for
// concurrent use; changes are serialised on one netlink socket.
type Enforcer struct {
	opts Options
	fams [2]*family // IPv4, IPv6

	mu     sync.Mutex
	conn   *ipsetConn
	closed bool
	// lost notes a set created again after it was removed from outside,
	// with its bans, until Repair reports it.
	lost bool
}

var (
	_ enforce.Enforcer = (*Enforcer)(nil)
	_ enforce.Lister   = (*Enforcer)(nil)
	_ enforce.Repairer = (*Enforcer)(nil)
	_ enforce.Capper   = (*Enforcer)(nil)
	_ enforce.Batcher  = (*Enforcer)(nil)
	_ enforce.Closer   = (*Enforcer)(nil)
)

// family is one address family's set and rule.
type family struct {
	v6      bool
	set     string
	ipt     *goipt.IPTables
	maxElem uint32 // the set's, as the kernel has it
}

const (
	table = "raw"
	chain = "PREROUTING"
	// lockWait is how long an iptables command waits for the xtables
	// lock (iptables --wait), in seconds.
	lockWait = 10
)

// rule is the rule's specification, as iptables -I takes it after the
// chain.
func (f *family) rule() []string {
	return []string{"-m", "set", "--match-set", f.set, "src", "-m", "comment", "--comment", RuleComment, "-j", "DROP"}
}

func (f *family) cmd() string {
	if f.v6 {
		return "ip6tables"
	}
	return "iptables"
}

func (f *family) nfproto() uint8 {
	if f.v6 {
		return unix.NFPROTO_IPV6
	}
	return unix.NFPROTO_IPV4
}

// New makes sure both sets and both rules are in place: it creates a set
// that is absent and adopts one left by an earlier run (Options.Keep) with
// its bans, rebuilding it if its maxelem is not Options.MaxElem; it inserts
// a rule at the head of raw PREROUTING unless the same rule is there. It
// needs CAP_NET_ADMIN and the iptables and ip6tables commands.
func New(ctx context.Context, opts Options) (*Enforcer, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e := &Enforcer{opts: opts}
	for i, proto := range []goipt.Protocol{goipt.ProtocolIPv4, goipt.ProtocolIPv6} {
		f := &family{v6: i == 1, set: opts.Name + "46"[i:i+1]}
		if f.ipt, err = goipt.New(goipt.IPFamily(proto), goipt.Timeout(lockWait)); err != nil {
			return nil, fmt.Errorf("iptables: %s: %w", f.cmd(), err)
		}
		e.fams[i] = f
	}
	if e.conn, err = dialIpset(); err != nil {
		return nil, fmt.Errorf("iptables: netlink: %w", err)
	}
	for _, f := range e.fams {
		if err := ctx.Err(); err != nil {
			e.conn.close()
			return nil, err
		}
		if err := e.setup(f); err != nil {
			e.conn.close()
			return nil, err
		}
	}
	return e, nil
}

func (e *Enforcer) setup(f *family) error {
	if err := e.ensureSet(f); err != nil {
		return err
	}
	return e.ensureRule(f)
}

func (e *Enforcer) ensureSet(f *family) error {
	want := uint32(e.opts.MaxElem)
	err := e.conn.create(f.set, f.v6, want)
	if err == nil {
		if f.maxElem != 0 {
			e.lost = true // it existed before: removed from outside
		}
		f.maxElem = want
		return nil
	}
	if !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("iptables: create ipset %s: %w", f.set, kerr(err))
	}
	h, _, err := e.conn.list(f.set, true)
	if err != nil {
		return fmt.Errorf("iptables: read ipset %s: %w", f.set, kerr(err))
	}
	if h.typ != setType || h.family != f.nfproto() || !h.hasTimeout {
		return fmt.Errorf("iptables: ipset %s exists as %s, want %s; remove it (ipset destroy %s) or set Options.Name",
			f.set, describeSet(h.typ, h.family, h.hasTimeout), describeSet(setType, f.nfproto(), true), f.set)
	}
	f.maxElem = h.maxElem
	if h.maxElem == want {
		return nil
	}
	return e.resize(f, want)
}

func describeSet(typ string, fam uint8, timeout bool) string {
	s := typ
	switch fam {
	case unix.NFPROTO_IPV4:
		s += " family inet"
	case unix.NFPROTO_IPV6:
		s += " family inet6"
	default:
		s += fmt.Sprintf(" family %d", fam)
	}
	if timeout {
		s += " with timeouts"
	} else {
		s += " without timeouts"
	}
	return s
}

// resize rebuilds f's set with maxelem want: a new set gets a copy of the
// elements, then takes the old one's place (ipset swap, which the rule
// follows), and the old one is destroyed. On error the old set is left as
// it was.
func (e *Enforcer) resize(f *family, want uint32) error {
	tmp := f.set + "_"
	if err := e.conn.destroy(tmp); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("iptables: remove leftover ipset %s: %w", tmp, kerr(err))
	}
	if err := e.conn.create(tmp, f.v6, want); err != nil {
		return fmt.Errorf("iptables: create ipset %s: %w", tmp, kerr(err))
	}
	err := e.copyInto(f, tmp, want)
	if err == nil {
		err = e.conn.swap(f.set, tmp)
		if err != nil {
			err = fmt.Errorf("iptables: swap ipsets %s and %s: %w", f.set, tmp, kerr(err))
		} else {
			f.maxElem = want
		}
	}
	if derr := e.conn.destroy(tmp); derr != nil {
		err = errors.Join(err, fmt.Errorf("iptables: remove ipset %s: %w", tmp, kerr(derr)))
	}
	return err
}

func (e *Enforcer) copyInto(f *family, tmp string, want uint32) error {
	_, es, err := e.conn.list(f.set, false)
	if err != nil {
		return fmt.Errorf("iptables: read ipset %s: %w", f.set, kerr(err))
	}
	if uint64(len(es)) > uint64(want) {
		return fmt.Errorf("%w: ipset %s holds %d bans, more than Options.MaxElem %d", ErrFull, f.set, len(es), want)
	}
	for i := range es {
		// The kernel reports whole seconds left, rounded down; a
		// second more keeps a ban from ending early.
		if t := es[i].timeout; t > 0 && t < uint32(MaxTimeout/time.Second) {
			es[i].timeout++
		}
	}
	for len(es) > 0 {
		n := min(len(es), batchSize)
		if err := e.conn.adt(cmdAdd, tmp, es[:n]); err != nil {
			if errors.Is(err, errHashFull) {
				return fmt.Errorf("%w: copying ipset %s into %s with maxelem %d", ErrFull, f.set, tmp, want)
			}
			return fmt.Errorf("iptables: copy ipset %s into %s: %w", f.set, tmp, kerr(err))
		}
		es = es[n:]
	}
	return nil
}

func (e *Enforcer) ensureRule(f *family) error {
	ok, err := f.ipt.Exists(table, chain, f.rule()...)
	if err != nil {
		return fmt.Errorf("iptables: %s -t %s -C %s: %w", f.cmd(), table, chain, err)
	}
	if ok {
		return nil
	}
	if err := f.ipt.Insert(table, chain, 1, f.rule()...); err != nil {
		return fmt.Errorf("iptables: %s -t %s -I %s: %w", f.cmd(), table, chain, err)
	}
	return nil
}

// Ban blocks p until until; a ban on p already installed gets the new
// expiry, shorter or longer. The kernel keeps whole seconds: the timeout is
// rounded up, and capped at MaxTimeout. An until already past lifts the
// ban. A /0 is refused: hash:net sets cannot hold one. A full set is an
// error wrapping ErrFull.
func (e *Enforcer) Ban(ctx context.Context, p netip.Prefix, until time.Time) error {
	return e.BanAll(ctx, []enforce.Ban{{Prefix: p, Until: until}})
}

// Unban lifts the ban on exactly p; lifting one that is absent or expired
// is not an error.
func (e *Enforcer) Unban(ctx context.Context, p netip.Prefix) error {
	return e.UnbanAll(ctx, []netip.Prefix{p})
}

func check(p netip.Prefix) (netip.Prefix, error) {
	p, err := enforce.Canonical(p)
	if err != nil {
		return p, fmt.Errorf("iptables: %w", err)
	}
	return p, nil
}

func index(p netip.Prefix) int {
	if p.Addr().Is6() {
		return 1
	}
	return 0
}

// BanAll bans each element. ipset has no transactions: up to 1,024
// elements go in one netlink message, which the kernel applies in order,
// stopping at an error; the messages already sent stay made. A cancelled
// ctx stops the batch between messages. Every prefix is checked before
// anything changes.
func (e *Enforcer) BanAll(ctx context.Context, bans []enforce.Ban) error {
	now := e.opts.Now()
	ops := sized(len(bans), func(i int) netip.Prefix { return bans[i].Prefix })
	for _, b := range bans {
		p, err := check(b.Prefix)
		if err != nil {
			return err
		}
		if p.Bits() == 0 {
			return fmt.Errorf("iptables: ban %v: an ipset hash:net cannot hold a /0 (ban both halves, /1 each)", p)
		}
		i := index(p)
		ops[i] = append(ops[i], entry{p, timeout(b.Until, now)})
	}
	return e.apply(ctx, ops)
}

// UnbanAll lifts each ban, up to 1,024 per netlink message. A /0 is
// skipped: it cannot have been banned.
func (e *Enforcer) UnbanAll(ctx context.Context, prefixes []netip.Prefix) error {
	ops := sized(len(prefixes), func(i int) netip.Prefix { return prefixes[i] })
	for _, p := range prefixes {
		p, err := check(p)
		if err != nil {
			return err
		}
		if p.Bits() == 0 {
			continue
		}
		i := index(p)
		ops[i] = append(ops[i], entry{p: p})
	}
	return e.apply(ctx, ops)
}

// sized returns a slice for each family's share of n prefixes.
func sized(n int, p func(int) netip.Prefix) [2][]entry {
	n6 := 0
	for i := range n {
		if p(i).Addr().Is6() {
			n6++
		}
	}
	return [2][]entry{make([]entry, 0, n-n6), make([]entry, 0, n6)}
}

// apply makes ops, each family's in order: runs of adds (timeout > 0) and
// of deletes (timeout 0), batchSize at most to a message.
func (e *Enforcer) apply(ctx context.Context, ops [2][]entry) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	for i, f := range e.fams {
		for es := ops[i]; len(es) > 0; {
			n, del := 1, es[0].timeout == 0
			for n < len(es) && n < batchSize && (es[n].timeout == 0) == del {
				n++
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := e.send(f, es[:n], del); err != nil {
				return err
			}
			es = es[n:]
		}
	}
	return nil
}

func (e *Enforcer) send(f *family, es []entry, del bool) error {
	cmd := cmdAdd
	if del {
		cmd = cmdDel
	}
	err := e.conn.adt(cmd, f.set, es)
	if errors.Is(err, unix.ENOENT) {
		if del {
			// The set is gone (with its rule: the kernel does not
			// let a set in use go), and so are its bans.
			return nil
		}
		// Removed from outside: build it again, rule included.
		if serr := e.setup(f); serr != nil {
			return fmt.Errorf("iptables: %s: %w (rebuilding ipset %s: %w)", describe(es, del), kerr(err), f.set, serr)
		}
		err = e.conn.adt(cmd, f.set, es)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errHashFull):
		return fmt.Errorf("%w: %s: ipset %s is at maxelem %d", ErrFull, describe(es, del), f.set, f.maxElem)
	}
	return fmt.Errorf("iptables: %s in ipset %s: %w", describe(es, del), f.set, kerr(err))
}

func describe(es []entry, del bool) string {
	verb := "ban"
	if del {
		verb = "unban"
	}
	if len(es) == 1 {
		return verb + " " + es[0].p.String()
	}
	return fmt.Sprintf("%s %d prefixes from %v", verb, len(es), es[0].p)
}

// List returns the bans in the sets that have not expired, each with the
// kernel's whole seconds left. Elements without a timeout (added by hand)
// are not bans of an Enforcer and are left out.
func (e *Enforcer) List(ctx context.Context) ([]enforce.Ban, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, ErrClosed
	}
	now := e.opts.Now()
	var out []enforce.Ban
	for _, f := range e.fams {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		_, es, err := e.conn.list(f.set, false)
		if errors.Is(err, unix.ENOENT) {
			continue // removed from outside: it holds no bans
		}
		if err != nil {
			return nil, fmt.Errorf("iptables: list ipset %s: %w", f.set, kerr(err))
		}
		for _, el := range es {
			if el.timeout > 0 {
				out = append(out, enforce.Ban{Prefix: el.p, Until: now.Add(time.Duration(el.timeout) * time.Second)})
			}
		}
	}
	return out, nil
}

// Repair creates a set and inserts a rule again where something outside
// removed them (iptables -t raw -F, ipset destroy); it changes nothing when
// they are in place. lost reports that a set was created again since the
// last Repair, here or in a ban that had to: its bans are gone, and
// ban.Guard.Resync installs them again.
func (e *Enforcer) Repair(ctx context.Context) (lost bool, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false, ErrClosed
	}
	for _, f := range e.fams {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		if err := e.setup(f); err != nil {
			return false, err
		}
	}
	lost, e.lost = e.lost, false
	return lost, nil
}

// MaxTimeout returns MaxTimeout, the longest ipset keeps a ban.
func (e *Enforcer) MaxTimeout() time.Duration { return MaxTimeout }

// Close releases the netlink socket and, unless Options.Keep, deletes the
// rules and destroys the sets with their bans. It is safe to call twice.
func (e *Enforcer) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	var errs []error
	if !e.opts.Keep {
		for _, f := range e.fams {
			if err := deleteRule(f); err != nil {
				errs = append(errs, err)
			}
		}
		for _, f := range e.fams {
			if err := e.destroy(f.set); err != nil {
				errs = append(errs, err)
			}
		}
	}
	e.conn.close()
	return errors.Join(errs...)
}

// deleteRule deletes every copy of f's rule.
func deleteRule(f *family) error {
	for range 16 {
		ok, err := f.ipt.Exists(table, chain, f.rule()...)
		if err != nil {
			return fmt.Errorf("iptables: %s -t %s -C %s: %w", f.cmd(), table, chain, err)
		}
		if !ok {
			return nil
		}
		if err := f.ipt.Delete(table, chain, f.rule()...); err != nil {
			return fmt.Errorf("iptables: %s -t %s -D %s: %w", f.cmd(), table, chain, err)
		}
	}
	return nil
}

// destroy destroys a set, waiting up to two seconds for a deleted rule to
// let go of it: with iptables-nft the kernel may release a deleted rule's
// matches after the command has returned ("Set cannot be destroyed: it is
// in use by a kernel component"; weaveworks/weave#3847, fail2ban#3624).
func (e *Enforcer) destroy(set string) error {
	for wait := time.Millisecond; ; wait *= 2 {
		err := e.conn.destroy(set)
		switch {
		case err == nil, errors.Is(err, unix.ENOENT):
			return nil
		case errors.Is(err, errReferenced) && wait <= time.Second:
			time.Sleep(wait)
			continue
		}
		return fmt.Errorf("iptables: destroy ipset %s: %w", set, kerr(err))
	}
}
