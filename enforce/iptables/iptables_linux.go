package iptables

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
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
	opts settings
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
	_ enforce.Counter  = (*Enforcer)(nil)
)

// family is one address family's sets and rules.
type family struct {
	v6      bool
	set     string
	allow   string  // the set of Options.Allow
	allowed []entry // what it must hold
	rules   [][]string
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

// specs returns the family's rules, as iptables -I takes them after the
// chain, each in the order iptables -S prints it, so that ensureRules can
// tell them from rules of an earlier run by their text. multiport needs
// -p ("multiport needs `-p tcp', `-p udp'..."), hence a rule for each; it
// comes first because iptables-nft makes it a native port match that ends
// the rule before the set matches run.
func (f *family) specs(o settings) [][]string {
	match := []string{"-m", "set", "--match-set", f.set, "src", "-m", "set", "!", "--match-set", f.allow, "src",
		"-m", "comment", "--comment", RuleComment, "-j", "DROP"}
	if o.AllPorts {
		return [][]string{match}
	}
	ports := make([]string, len(o.Ports))
	for i, p := range o.Ports {
		ports[i] = strconv.Itoa(int(p))
	}
	var out [][]string
	for _, proto := range []string{"udp", "tcp"} {
		out = append(out, append([]string{"-p", proto, "-m", "multiport", "--dports", strings.Join(ports, ",")}, match...))
	}
	return out
}

// ours reports whether a line of iptables -S is a rule for f's set, from
// this run or an earlier one.
func (f *family) ours(line string) bool {
	return strings.HasPrefix(line, "-A "+chain+" ") && strings.Contains(line, " --match-set "+f.set+" src ") &&
		strings.Contains(line, " --comment "+RuleComment+" ")
}

// allowEntries returns an allow-list as set elements: hash:net cannot hold
// a /0, so one goes in as its two halves.
func allowEntries(ps []netip.Prefix) []entry {
	var out []entry
	for _, p := range ps {
		if p.Bits() == 0 {
			half := netip.PrefixFrom(p.Addr(), 1)
			hi := half.Addr().AsSlice()
			hi[0] = 0x80
			a, _ := netip.AddrFromSlice(hi)
			out = append(out, entry{p: half}, entry{p: netip.PrefixFrom(a, 1)})
			continue
		}
		out = append(out, entry{p: p})
	}
	return out
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

// New makes sure the sets and rules of both families are in place: it
// creates a set that is absent and adopts one left by an earlier run
// (Options.Keep) with its bans, rebuilding it if its maxelem is not
// Options.MaxElem; it makes the allow sets hold Options.Allow; it inserts
// the rules at the head of raw PREROUTING unless they are there, and
// deletes rules for its sets that an earlier run with other Ports or
// AllPorts left. It needs CAP_NET_ADMIN and the iptables and ip6tables
// commands.
func New(ctx context.Context, options Options) (*Enforcer, error) {
	opts, err := options.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e := &Enforcer{opts: opts}
	for i, proto := range []goipt.Protocol{goipt.ProtocolIPv4, goipt.ProtocolIPv6} {
		fam := opts.Name + "46"[i:i+1]
		f := &family{v6: i == 1, set: fam, allow: fam + "a", allowed: allowEntries(opts.allow[i])}
		f.rules = f.specs(opts)
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
	if err := e.ensureAllow(f); err != nil {
		return err
	}
	return e.ensureRules(f)
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
	h, _, err := e.adopt(f, f.set, true)
	if err != nil {
		return err
	}
	f.maxElem = h.maxElem
	if h.maxElem == want {
		return nil
	}
	return e.resize(f, want)
}

// adopt reads a set that exists, refusing one that is not a hash:net
// with timeouts of f's family.
func (e *Enforcer) adopt(f *family, set string, headerOnly bool) (header, []entry, error) {
	h, es, err := e.conn.list(set, headerOnly)
	if err != nil {
		return h, nil, fmt.Errorf("iptables: read ipset %s: %w", set, kerr(err))
	}
	if h.typ != setType || h.family != f.nfproto() || !h.hasTimeout {
		return h, nil, fmt.Errorf("iptables: ipset %s exists as %s, want %s; remove it (ipset destroy %s) or set Options.Name",
			set, describeSet(h.typ, h.family, h.hasTimeout), describeSet(setType, f.nfproto(), true), set)
	}
	return h, es, nil
}

// ensureAllow creates f's allow set if absent and makes it hold exactly
// f.allowed: what is missing is added before what is extra goes, so that
// nothing allowed by both runs loses its exemption meanwhile.
func (e *Enforcer) ensureAllow(f *family) error {
	var have []entry
	err := e.conn.create(f.allow, f.v6, uint32(e.opts.MaxElem))
	switch {
	case errors.Is(err, unix.EEXIST):
		if _, have, err = e.adopt(f, f.allow, false); err != nil {
			return err
		}
	case err != nil:
		return fmt.Errorf("iptables: create ipset %s: %w", f.allow, kerr(err))
	}
	missing := diff(f.allowed, have)
	extra := diff(have, f.allowed)
	if len(missing) > 0 {
		if err := e.conn.adt(cmdAdd, f.allow, missing); err != nil {
			return fmt.Errorf("iptables: allow %d prefixes from %v in ipset %s: %w", len(missing), missing[0].p, f.allow, kerr(err))
		}
	}
	if len(extra) > 0 {
		if err := e.conn.adt(cmdDel, f.allow, extra); err != nil {
			return fmt.Errorf("iptables: remove %d prefixes from %v from ipset %s: %w", len(extra), extra[0].p, f.allow, kerr(err))
		}
	}
	return nil
}

// diff returns the entries of a whose prefix is not in b, timeouts aside
// (an allow entry has none).
func diff(a, b []entry) []entry {
	in := make(map[netip.Prefix]bool, len(b))
	for _, x := range b {
		in[x.p] = true
	}
	var out []entry
	for _, x := range a {
		if !in[x.p] {
			out = append(out, entry{p: x.p})
		}
	}
	return out
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

// ensureRules makes raw PREROUTING hold f's rules, once each: it inserts
// those missing at the head and then deletes the other rules for f's set,
// left by a run with other Ports or AllPorts, or a second copy. In place,
// it costs one iptables -S.
func (e *Enforcer) ensureRules(f *family) error {
	lines, err := f.ipt.List(table, chain)
	if err != nil {
		return fmt.Errorf("iptables: %s -t %s -S %s: %w", f.cmd(), table, chain, err)
	}
	want := make(map[string]bool, len(f.rules))
	for _, r := range f.rules {
		want["-A "+chain+" "+strings.Join(r, " ")] = true
	}
	have := make(map[string]bool, len(f.rules))
	var stale [][]string
	for _, l := range lines {
		if !f.ours(l) {
			continue
		}
		if want[l] && !have[l] {
			have[l] = true
			continue
		}
		// Ours has no quoted words: the fields are the rule.
		stale = append(stale, strings.Fields(l)[2:])
	}
	// In reverse, each at the head: they end up in f.rules' order.
	for i := len(f.rules) - 1; i >= 0; i-- {
		if have["-A "+chain+" "+strings.Join(f.rules[i], " ")] {
			continue
		}
		if err := f.ipt.Insert(table, chain, 1, f.rules[i]...); err != nil {
			return fmt.Errorf("iptables: %s -t %s -I %s: %w", f.cmd(), table, chain, err)
		}
	}
	for _, r := range stale {
		if err := f.ipt.Delete(table, chain, r...); err != nil {
			return fmt.Errorf("iptables: %s -t %s -D %s: %w", f.cmd(), table, chain, err)
		}
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

// Dropped returns what the drop rules' counters hold (every iptables rule
// counts), summed over both families: an iptables -v -S and an ip6tables
// -v -S. A rule inserted anew (Repair) counts from zero.
func (e *Enforcer) Dropped(ctx context.Context) (packets, bytes uint64, err error) {
	e.mu.Lock()
	closed := e.closed
	e.mu.Unlock()
	if closed {
		return 0, 0, ErrClosed
	}
	// Unlocked past here: the commands read the kernel's rules, which
	// bans do not change, and would hold bans up for milliseconds.
	for _, f := range e.fams {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		lines, err := f.ipt.ListWithCounters(table, chain)
		if err != nil {
			return 0, 0, fmt.Errorf("iptables: %s -t %s -v -S %s: %w", f.cmd(), table, chain, err)
		}
		for _, l := range lines {
			if !f.ours(l) {
				continue
			}
			p, b, ok := counters(l)
			if !ok {
				return 0, 0, fmt.Errorf("iptables: no counters in %q", l)
			}
			packets += p
			bytes += b
		}
	}
	return packets, bytes, nil
}

// counters reads the "-c PACKETS BYTES" of a line of iptables -v -S.
func counters(line string) (packets, bytes uint64, ok bool) {
	fs := strings.Fields(line)
	for i := 0; i+2 < len(fs); i++ {
		if fs[i] != "-c" {
			continue
		}
		p, perr := strconv.ParseUint(fs[i+1], 10, 64)
		b, berr := strconv.ParseUint(fs[i+2], 10, 64)
		return p, b, perr == nil && berr == nil
	}
	return 0, 0, false
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
			if err := deleteRules(f); err != nil {
				errs = append(errs, err)
			}
		}
		for _, f := range e.fams {
			for _, set := range []string{f.set, f.allow} {
				if err := e.destroy(set); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	e.conn.close()
	return errors.Join(errs...)
}

// deleteRules deletes every rule for f's set.
func deleteRules(f *family) error {
	lines, err := f.ipt.List(table, chain)
	if err != nil {
		return fmt.Errorf("iptables: %s -t %s -S %s: %w", f.cmd(), table, chain, err)
	}
	for _, l := range lines {
		if !f.ours(l) {
			continue
		}
		if err := f.ipt.Delete(table, chain, strings.Fields(l)[2:]...); err != nil {
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
