package nftables

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/sipban/sipban/enforce"
)

// Enforcer bans prefixes in nftables. It is safe for concurrent use; changes
// are serialised, each one a single kernel transaction.
type Enforcer struct {
	opts settings

	mu    sync.Mutex
	conn  *nftables.Conn
	table *nftables.Table
	chain *nftables.Chain
	sets  map[class]*nftables.Set
	// allow are the interval sets of Options.Allow, IPv4 and IPv6.
	allow [2]*nftables.Set
	// pending are sets queued for creation in the open transaction.
	pending []class
	closed  bool
	// lost notes a rebuild that found sets, and so bans, gone, until
	// Repair reports it.
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

// class is a family and prefix length: one hash set each.
type class struct {
	v6   bool
	bits uint8
}

func (c class) name() string {
	if c.v6 {
		return "v6_" + strconv.Itoa(int(c.bits))
	}
	return "v4_" + strconv.Itoa(int(c.bits))
}

func parseClass(name string) (class, bool) {
	fam, bits, ok := strings.Cut(name, "_")
	n, err := strconv.Atoi(bits)
	switch {
	case !ok || err != nil || n < 0:
		return class{}, false
	case fam == "v4" && n <= 32:
		return class{false, uint8(n)}, true
	case fam == "v6" && n <= 128:
		return class{true, uint8(n)}, true
	}
	return class{}, false
}

// New opens a netlink connection and makes sure the table, its chain and the
// rules for the sets it already holds are in place. A table left by an
// earlier run (Options.Keep) is adopted with its bans. It needs
// CAP_NET_ADMIN.
func New(ctx context.Context, opts Options) (*Enforcer, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	conn, err := nftables.New(nftables.AsLasting())
	if err != nil {
		return nil, fmt.Errorf("nftables: netlink: %w", err)
	}
	e := &Enforcer{opts: o, conn: conn}
	if err := e.setup(); err != nil {
		e.conn.CloseLasting()
		return nil, err
	}
	return e, nil
}

// setup creates the table and chain if absent, adopts the sets in the table
// and rewrites the chain's rules to match them, in one transaction.
func (e *Enforcer) setup() error {
	e.table = e.conn.AddTable(&nftables.Table{Name: e.opts.Table, Family: nftables.TableFamilyINet})
	policy := nftables.ChainPolicyAccept
	// Raw priority runs before connection tracking: a ban also cuts a flow
	// that conntrack already knows.
	e.chain = e.conn.AddChain(&nftables.Chain{
		Name:     "prerouting",
		Table:    e.table,
		Type:     nftables.ChainTypeFilter,
		Hooknum:  nftables.ChainHookPrerouting,
		Priority: nftables.ChainPriorityRaw,
		Policy:   &policy,
	})
	if err := e.conn.Flush(); err != nil {
		return fmt.Errorf("nftables: create table %s: %w", e.opts.Table, err)
	}
	sets, err := e.conn.GetSets(e.table)
	if err != nil {
		return fmt.Errorf("nftables: list sets of %s: %w", e.opts.Table, err)
	}
	e.sets = make(map[class]*nftables.Set)
	// Every rule is written again, so that one left by a run with other
	// Ports or AllPorts matches this one's.
	e.conn.FlushChain(e.chain)
	if err := e.setAllow(); err != nil {
		return e.discard(fmt.Errorf("nftables: allow-list of %s: %w", e.opts.Table, err))
	}
	for _, s := range sets {
		c, ok := parseClass(s.Name)
		if !ok {
			continue
		}
		s.Table = e.table
		e.sets[c] = s
		if err := e.addRule(c, s); err != nil {
			e.sets = nil
			return e.discard(fmt.Errorf("nftables: rules of %s: %w", e.opts.Table, err))
		}
	}
	if err := e.conn.Flush(); err != nil {
		e.sets = nil
		return fmt.Errorf("nftables: rules of %s: %w", e.opts.Table, err)
	}
	return nil
}

// setAllow queues the allow sets, created if absent, with exactly the
// prefixes of Options.Allow.
func (e *Enforcer) setAllow() error {
	for i, ps := range [2][]netip.Prefix{e.opts.allow4, e.opts.allow6} {
		key, size := nftables.TypeIPAddr, 4
		if i == 1 {
			key, size = nftables.TypeIP6Addr, 16
		}
		// Interval sets, unlike the bans' hash sets, hold prefixes of
		// any length in one set: one lookup, however mixed the list.
		s := &nftables.Set{Table: e.table, Name: "allow" + "46"[i:i+1], KeyType: key, Interval: true}
		if err := e.conn.AddSet(s, nil); err != nil {
			return err
		}
		e.conn.FlushSet(s)
		if els := intervals(ps, size); len(els) > 0 {
			if err := e.conn.SetAddElements(s, els); err != nil {
				return err
			}
		}
		e.allow[i] = s
	}
	return nil
}

// intervals returns the elements of an interval set holding ps, which are
// sorted and disjoint: per prefix a start and, unless it runs to the end
// of the address space, an end one past its last address. As nft does, a
// set whose first prefix does not start at zero opens with an end at zero.
func intervals(ps []netip.Prefix, size int) []nftables.SetElement {
	var els []nftables.SetElement
	if len(ps) > 0 && !ps[0].Addr().IsUnspecified() {
		els = append(els, nftables.SetElement{Key: make([]byte, size), IntervalEnd: true})
	}
	for _, p := range ps {
		els = append(els, nftables.SetElement{Key: p.Addr().AsSlice()})
		b := p.Addr().AsSlice()
		for i := p.Bits(); i < len(b)*8; i++ {
			b[i/8] |= 0x80 >> (i % 8)
		}
		last, _ := netip.AddrFromSlice(b)
		// Next of the last address of all is the zero Addr.
		if next := last.Next(); next.IsValid() {
			els = append(els, nftables.SetElement{Key: next.AsSlice(), IntervalEnd: true})
		}
	}
	return els
}

// addRule queues the rule for c: drop packets whose source, masked to c's
// length, is in s, to one of Options.Ports over TCP or UDP (or to any port
// with AllPorts), unless the source is allow-listed. The allow lookup comes
// last, so that only a banned packet pays for it.
func (e *Enforcer) addRule(c class, s *nftables.Set) error {
	proto, off, size := byte(unix.NFPROTO_IPV4), uint32(12), uint32(4)
	allow := e.allow[0]
	if c.v6 {
		proto, off, size = unix.NFPROTO_IPV6, 8, 16
		allow = e.allow[1]
	}
	source := func() expr.Any {
		return &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: size}
	}
	exprs := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		source(),
	}
	if int(c.bits) < int(size)*8 {
		mask := make([]byte, size)
		for i := range int(c.bits) {
			mask[i/8] |= 0x80 >> (i % 8)
		}
		exprs = append(exprs, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: size, Mask: mask, Xor: make([]byte, size)})
	}
	exprs = append(exprs, &expr.Lookup{SourceRegister: 1, SetName: s.Name, SetID: s.ID})
	if !e.opts.AllPorts {
		ports, err := e.portMatch()
		if err != nil {
			return err
		}
		exprs = append(exprs, ports...)
	}
	exprs = append(exprs,
		source(),
		&expr.Lookup{SourceRegister: 1, SetName: allow.Name, SetID: allow.ID, Invert: true},
		&expr.Counter{},
		&expr.Verdict{Kind: expr.VerdictDrop},
	)
	e.conn.AddRule(&nftables.Rule{Table: e.table, Chain: e.chain, Exprs: exprs})
	return nil
}

// portMatch queues two anonymous sets, which the kernel binds to one rule
// and removes with it, and returns the expressions that match them:
// "meta l4proto { tcp, udp } th dport { 5060, 5061 }". TCP and UDP both
// keep the destination port at offset 2 of their header.
func (e *Enforcer) portMatch() ([]expr.Any, error) {
	protos := &nftables.Set{Table: e.table, Anonymous: true, Constant: true, KeyType: nftables.TypeInetProto}
	if err := e.conn.AddSet(protos, []nftables.SetElement{{Key: []byte{unix.IPPROTO_TCP}}, {Key: []byte{unix.IPPROTO_UDP}}}); err != nil {
		return nil, err
	}
	els := make([]nftables.SetElement, len(e.opts.Ports))
	for i, p := range e.opts.Ports {
		els[i] = nftables.SetElement{Key: []byte{byte(p >> 8), byte(p)}}
	}
	ports := &nftables.Set{Table: e.table, Anonymous: true, Constant: true, KeyType: nftables.TypeInetService}
	if err := e.conn.AddSet(ports, els); err != nil {
		return nil, err
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Lookup{SourceRegister: 1, SetName: protos.Name, SetID: protos.ID},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Lookup{SourceRegister: 1, SetName: ports.Name, SetID: ports.ID},
	}, nil
}

// set returns the set for c, queueing its creation and its rule in the
// current transaction if it does not exist yet; created reports that, so
// that a failed transaction can forget it.
func (e *Enforcer) set(c class) (s *nftables.Set, created bool, err error) {
	if s := e.sets[c]; s != nil {
		return s, false, nil
	}
	key := nftables.TypeIPAddr
	if c.v6 {
		key = nftables.TypeIP6Addr
	}
	s = &nftables.Set{Table: e.table, Name: c.name(), KeyType: key, HasTimeout: true}
	if err := e.conn.AddSet(s, nil); err != nil {
		return nil, false, err
	}
	if err := e.addRule(c, s); err != nil {
		return nil, false, err
	}
	e.sets[c] = s
	return s, true, nil
}

func classOf(p netip.Prefix) class { return class{p.Addr().Is6(), uint8(p.Bits())} }

// op is one element change.
type op struct {
	p       netip.Prefix
	timeout time.Duration // zero: unban
}

// Ban blocks p until until; a ban on p already installed gets the new
// expiry, shorter or longer. An until already past lifts the ban.
func (e *Enforcer) Ban(ctx context.Context, p netip.Prefix, until time.Time) error {
	return e.BanAll(ctx, []enforce.Ban{{Prefix: p, Until: until}})
}

// Unban lifts the ban on exactly p; lifting one that is absent or expired
// is not an error.
func (e *Enforcer) Unban(ctx context.Context, p netip.Prefix) error {
	return e.UnbanAll(ctx, []netip.Prefix{p})
}

// BanAll bans each element, Options.BatchSize elements per kernel
// transaction. On error the transactions already made stay made.
func (e *Enforcer) BanAll(ctx context.Context, bans []enforce.Ban) error {
	now := time.Now()
	ops := make([]op, 0, len(bans))
	for _, b := range bans {
		p, err := enforce.Canonical(b.Prefix)
		if err != nil {
			return fmt.Errorf("nftables: %w", err)
		}
		d := b.Until.Sub(now)
		if d > MaxTimeout {
			d = MaxTimeout
		}
		if d > 0 {
			// Whole milliseconds, rounded up: a ban never ends early.
			d = (d + time.Millisecond - 1).Truncate(time.Millisecond)
		} else {
			d = 0
		}
		ops = append(ops, op{p, d})
	}
	return e.apply(ctx, ops)
}

// UnbanAll lifts each ban, Options.BatchSize per kernel transaction.
func (e *Enforcer) UnbanAll(ctx context.Context, prefixes []netip.Prefix) error {
	ops := make([]op, 0, len(prefixes))
	for _, p := range prefixes {
		p, err := enforce.Canonical(p)
		if err != nil {
			return fmt.Errorf("nftables: %w", err)
		}
		ops = append(ops, op{p: p})
	}
	return e.apply(ctx, ops)
}

// ErrClosed is returned by changes made after Close.
var ErrClosed = errors.New("nftables: enforcer closed")

func (e *Enforcer) apply(ctx context.Context, ops []op) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	for len(ops) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(len(ops), e.opts.BatchSize)
		if err := e.commit(ops[:n]); err != nil {
			return err
		}
		ops = ops[n:]
	}
	return nil
}

// commit makes ops in one transaction. The kernel fails a whole transaction
// that deletes a missing element, and (before Linux 6.x) ignores a new
// timeout on an element that exists, so every element is first added
// (a no-op if present), then deleted, then, for a ban, added again with its
// timeout: always valid, whatever the set held.
func (e *Enforcer) commit(ops []op) error {
	err := e.transact(ops)
	if errors.Is(err, unix.ENOENT) {
		// Someone removed the table (nft flush ruleset): build it again.
		if serr := e.rebuild(); serr != nil {
			return fmt.Errorf("nftables: %s: %w (and rebuilding the table: %w)", describe(ops), err, serr)
		}
		err = e.transact(ops)
	}
	if err != nil {
		return fmt.Errorf("nftables: %s: %w", describe(ops), err)
	}
	return nil
}

// transact queues ops and sends them as one transaction.
func (e *Enforcer) transact(ops []op) error {
	if err := e.queue(ops); err != nil {
		return e.discard(err)
	}
	err := e.conn.Flush()
	e.forgetPending(err != nil)
	return err
}

// forgetPending ends a transaction: sets it was to create exist now, or,
// if it failed, do not.
func (e *Enforcer) forgetPending(failed bool) {
	if failed {
		for _, c := range e.pending {
			delete(e.sets, c)
		}
	}
	e.pending = e.pending[:0]
}

// discard drops a half-queued transaction, which the library cannot
// unqueue, by replacing the connection.
func (e *Enforcer) discard(err error) error {
	e.forgetPending(true)
	e.conn.CloseLasting()
	conn, cerr := nftables.New(nftables.AsLasting())
	if cerr != nil {
		e.closed = true
		return errors.Join(err, fmt.Errorf("nftables: reopen netlink: %w", cerr))
	}
	e.conn = conn
	return err
}

func describe(ops []op) string {
	verb := "ban"
	if ops[0].timeout == 0 {
		verb = "unban"
	}
	if len(ops) == 1 {
		return verb + " " + ops[0].p.String()
	}
	return fmt.Sprintf("%s %d prefixes from %v", verb, len(ops), ops[0].p)
}

func (e *Enforcer) queue(ops []op) error {
	// A prefix twice in one transaction would be deleted twice, and the
	// second delete fails the whole transaction: the last op wins.
	last := make(map[netip.Prefix]int, len(ops))
	for i, o := range ops {
		last[o.p] = i
	}
	byClass := map[class][3][]nftables.SetElement{}
	for i, o := range ops {
		if last[o.p] != i {
			continue
		}
		c := classOf(o.p)
		key := o.p.Addr().AsSlice()
		els := byClass[c]
		// The placeholder's timeout must outlast the transaction.
		els[0] = append(els[0], nftables.SetElement{Key: key, Timeout: time.Minute})
		els[1] = append(els[1], nftables.SetElement{Key: key})
		if o.timeout > 0 {
			els[2] = append(els[2], nftables.SetElement{Key: key, Timeout: o.timeout})
		}
		byClass[c] = els
	}
	for c, els := range byClass {
		s, created, err := e.set(c)
		if err != nil {
			return err
		}
		if created {
			e.pending = append(e.pending, c)
		}
		for _, step := range []struct {
			add bool
			els []nftables.SetElement
		}{{true, els[0]}, {false, els[1]}, {true, els[2]}} {
			if len(step.els) == 0 {
				continue
			}
			if step.add {
				err = e.conn.SetAddElements(s, step.els)
			} else {
				err = e.conn.SetDeleteElements(s, step.els)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// List returns the bans in the kernel's sets that have not expired. The
// kernel dumps a set in several messages and walks it from the start for
// each; while it grows its hash table (after many bans at once) the walk
// order changes, and a dump repeats some elements in place of others. So a
// set whose dump repeats an element is read again, up to listAttempts
// times. It costs about 20 µs per ban, and holds the Enforcer meanwhile.
func (e *Enforcer) List(ctx context.Context) ([]enforce.Ban, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, ErrClosed
	}
	var out []enforce.Ban
	for c, s := range e.sets {
		bans, err := e.listSet(ctx, c, s)
		if err != nil {
			return nil, err
		}
		out = append(out, bans...)
	}
	return out, nil
}

// listAttempts bounds the dumps of one set in List.
const listAttempts = 10

func (e *Enforcer) listSet(ctx context.Context, c class, s *nftables.Set) ([]enforce.Ban, error) {
	for range listAttempts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		now := time.Now()
		els, err := e.conn.GetSetElements(s)
		if err != nil {
			return nil, fmt.Errorf("nftables: list %s: %w", s.Name, err)
		}
		out := make([]enforce.Ban, 0, len(els))
		seen := make(map[netip.Addr]struct{}, len(els))
		for _, el := range els {
			a, ok := netip.AddrFromSlice(el.Key)
			if !ok || el.Expires <= 0 {
				continue
			}
			seen[a] = struct{}{}
			out = append(out, enforce.Ban{Prefix: netip.PrefixFrom(a, int(c.bits)), Until: now.Add(el.Expires)})
		}
		if len(seen) == len(out) {
			return out, nil
		}
	}
	return nil, fmt.Errorf("nftables: list %s: %d dumps in a row repeated elements (the set kept changing)", s.Name, listAttempts)
}

// Repair builds the table, chain and rules again if something outside
// removed or changed them (nft flush ruleset, a firewall reload); it sends
// nothing but one query when they are as this Enforcer left them. lost
// reports that sets went with the table since the last Repair, here or in
// a change that had to rebuild it: their bans are gone, and
// ban.Guard.Resync installs them again.
func (e *Enforcer) Repair(ctx context.Context) (lost bool, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	rules, err := e.conn.GetRules(e.table, e.chain)
	if err != nil || len(rules) != len(e.sets) {
		if err := e.rebuild(); err != nil {
			return false, err
		}
	}
	lost, e.lost = e.lost, false
	return lost, nil
}

// rebuild sets the table up again after a change from outside, noting
// whether sets it had are gone.
func (e *Enforcer) rebuild() error {
	had := len(e.sets)
	if err := e.setup(); err != nil {
		return err
	}
	if len(e.sets) < had {
		e.lost = true
	}
	return nil
}

// Dropped returns what the drop rules' counters hold: one rule per set,
// written anew (from zero) when the table is rebuilt. One netlink dump.
func (e *Enforcer) Dropped(ctx context.Context) (packets, bytes uint64, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return 0, 0, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	rules, err := e.conn.GetRules(e.table, e.chain)
	if err != nil {
		return 0, 0, fmt.Errorf("nftables: rules of %s: %w", e.opts.Table, err)
	}
	for _, r := range rules {
		for _, x := range r.Exprs {
			if c, ok := x.(*expr.Counter); ok {
				packets += c.Packets
				bytes += c.Bytes
			}
		}
	}
	return packets, bytes, nil
}

// MaxTimeout returns MaxTimeout, the longest the kernel keeps a ban.
func (e *Enforcer) MaxTimeout() time.Duration { return MaxTimeout }

// Close releases the netlink connection and, unless Options.Keep, removes
// the table with its rules and bans. It is safe to call twice.
func (e *Enforcer) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	var err error
	if !e.opts.Keep {
		e.conn.DelTable(e.table)
		if ferr := e.conn.Flush(); ferr != nil && !errors.Is(ferr, unix.ENOENT) {
			err = fmt.Errorf("nftables: remove table %s: %w", e.opts.Table, ferr)
		}
	}
	return errors.Join(err, e.conn.CloseLasting())
}
