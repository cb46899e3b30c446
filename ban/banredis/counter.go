package banredis

import (
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sipban/sipban/detect"
	"github.com/sipban/sipban/internal/lograte"
	"github.com/sipban/sipban/internal/shardmap"
)

// CounterOptions configure a Counter. The zero value is usable.
type CounterOptions struct {
	// Prefix starts every key. Zero means "sipban:".
	Prefix string
	// Limits gives the thresholds, as the standard detector reads them:
	// BadCredentials per address (or IPv6 prefix of V6Prefix bits),
	// AccountCredentials per account from two addresses or more, and
	// TrustWindow, how long a proven login at an address makes it one to
	// guard rather than ban. Zero fields take detect's defaults; a
	// negative Threshold turns that count off. Other fields are not read.
	Limits detect.Limits
	// Interval is how often Run sends what was counted. Zero means 5 ms.
	Interval time.Duration
	// Timeout bounds one Flush. Zero means 1 s.
	Timeout time.Duration
	// MaxPending bounds the counts waiting to be sent, one per subject and
	// time bucket; beyond it counts are kept locally only. Zero means 65,536.
	MaxPending int
	// MaxTracked bounds the addresses and the accounts whose fleet counts
	// are cached, each; the least recently seen is forgotten to make room.
	// Forgetting costs little: the next event on it reads the fleet's
	// count back. Zero means 65,536 (16 MiB each, measured).
	MaxTracked int
	// Logger receives Redis failures, once per streak. Zero means
	// slog.Default().
	Logger *slog.Logger
	// Now is the clock for events without a Time. Zero means time.Now.
	Now func() time.Time
}

// Counter is a detect.Detector that counts proven rejected credentials
// across every edge sharing one Redis, so that guessing spread over the
// edges is caught like guessing at one. It reports what the edge's own
// detectors cannot see: a finding only when other edges' counts take part.
//
// Observe never waits on Redis: it updates a local cache and queues the
// increment; Run (or Flush) sends what is queued and reads the fleet's
// totals back into the cache. A Counter is safe for concurrent use.
type Counter struct {
	c          redis.UniversalClient
	prefix     string
	addrT      int
	acctT      int
	v6         int
	trust      int64 // ns
	width      int64 // ns per bucket
	ttl        int64 // ms a bucket key lives
	interval   time.Duration
	timeout    time.Duration
	maxPending int
	now        func() time.Time
	log        *slog.Logger
	failing    streak
	full, bad  lograte.Limiter

	addrs, accts *shardmap.Map[tally]

	mu      sync.Mutex
	pending map[pendKey]pend

	flushMu sync.Mutex // one Flush at a time
}

var (
	_ detect.Detector  = (*Counter)(nil)
	_ detect.Forgetter = (*Counter)(nil)
)

// buckets is how many buckets a window spans, plus one: like the standard
// detector, an event counts for at least the window and at most 4/3 of it.
const buckets = 4

// maxAccount bounds the account names counted: longer ones are not SIP
// accounts anyone provisions, and would make long keys.
const maxAccount = 256

// maxSources is how many sources of one account a bucket keeps in Redis:
// enough to tell one from several, bounded whatever a botnet does.
const maxSources = 8

var seed = maphash.MakeSeed()

// NewCounter returns a Counter on client. It does no I/O and starts
// nothing: the caller runs Run.
func NewCounter(client redis.UniversalClient, opts CounterOptions) (*Counter, error) {
	if client == nil {
		return nil, errors.New("banredis: nil client")
	}
	l, err := opts.Limits.WithDefaults()
	if err != nil {
		return nil, fmt.Errorf("banredis: %w", err)
	}
	addr, acct := l.BadCredentials, l.AccountCredentials
	if addr.Window != acct.Window {
		// One bucket width serves both counts.
		return nil, fmt.Errorf("banredis: counter windows %v and %v differ", addr.Window, acct.Window)
	}
	if opts.Prefix == "" {
		opts.Prefix = "sipban:"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Interval < 0 || opts.Timeout < 0 || opts.MaxPending < 0 || opts.MaxTracked < 0 {
		return nil, errors.New("banredis: negative Interval, Timeout, MaxPending or MaxTracked")
	}
	width := int64(addr.Window)/(buckets-1) + 1
	tracked := opts.MaxTracked
	if tracked == 0 {
		tracked = 1 << 16
	}
	age := func(t tally) int64 { return t.last }
	c := &Counter{
		c: client, prefix: opts.Prefix,
		addrT: addr.Threshold, acctT: acct.Threshold, v6: l.V6Prefix,
		trust: int64(l.TrustWindow), width: width,
		ttl:      (buckets*width + int64(time.Minute)) / int64(time.Millisecond),
		interval: orDefault(opts.Interval, 5*time.Millisecond),
		timeout:  orDefault(opts.Timeout, time.Second),
		now:      opts.Now, log: opts.Logger,
		full:    lograte.Limiter{Every: time.Minute},
		bad:     lograte.Limiter{Every: time.Minute},
		addrs:   shardmap.New(tracked, age),
		accts:   shardmap.New(tracked, age),
		pending: make(map[pendKey]pend),
	}
	c.maxPending = opts.MaxPending
	if c.maxPending == 0 {
		c.maxPending = 1 << 16
	}
	c.failing = streak{log: c.log, what: "fleet offence counting"}
	return c, nil
}

// tally is what a Counter caches of one address or account, newest bucket
// first. It holds no pointers.
type tally struct {
	head  int64          // bucket number of index 0
	fleet [buckets]int32 // the fleet's counts as last read
	mine  [buckets]int32 // this edge's counts not yet in fleet
	own   [buckets]int32 // this edge's counts, sent or not
	okAt  int64          // address: last proven login, Unix ns
	first int64          // first event this edge counted in the window, Unix ns
	last  int64          // last event, Unix ns: for eviction
	// Account: a sample of its failing sources fleet-wide, and how many
	// distinct there were (at most maxSources), as last read.
	srcs [2][16]byte
	srcN int32
}

// advance moves t to bucket b, dropping buckets that fell out.
func (t *tally) advance(b int64) {
	d := b - t.head
	if d <= 0 {
		return
	}
	for _, a := range []*[buckets]int32{&t.fleet, &t.mine, &t.own} {
		if d >= buckets {
			*a = [buckets]int32{}
			continue
		}
		copy(a[d:], a[:buckets-int(d)])
		clear(a[:d])
	}
	t.head = b
}

// counts returns the fleet-wide total and this edge's own part.
func (t *tally) counts() (total, own int) {
	for i := range buckets {
		total += int(t.fleet[i]) + int(t.mine[i])
		own += int(t.own[i])
	}
	return total, own
}

// add counts n at bucket b, at ns.
func (t *tally) add(b int64, n int32, ns int64) {
	t.advance(b)
	if total, _ := t.counts(); total == 0 || t.first == 0 {
		t.first = ns
	}
	if i := t.head - b; i < buckets {
		t.mine[i] += n
		t.own[i] += n
	}
}

const (
	kindAddr uint8 = iota + 1
	kindAcct
)

// pendKey names one count waiting to be sent: a subject's bucket.
type pendKey struct {
	kind   uint8
	sub    netip.Prefix // kindAddr
	acct   string       // kindAcct
	bucket int64
}

type pend struct {
	n     int32
	reset bool // clear the subject's counts before adding n (Forget)
	srcs  [4]netip.Prefix
}

// Observe implements detect.Detector. Only proven events count: a forged
// UDP source must not be able to add to what bans an address or guards
// an account fleet-wide.
func (c *Counter) Observe(ev *detect.Event, dst []detect.Finding) []detect.Finding {
	if !ev.Proven || ev.Validate() != nil {
		return dst
	}
	login := ev.Authenticated()
	if !login && !ev.Rejected() {
		return dst
	}
	t := ev.Time
	if t.IsZero() {
		t = c.now()
	}
	pfx := c.prefixOf(ev.Source.Addr())
	if login {
		c.trusted(pfx, t.UnixNano())
		return dst
	}
	b := t.UnixNano() / c.width
	dst = c.countAddr(ev, pfx, b, t, dst)
	// Guarded requests had their credentials unchecked: the account's count
	// is of guesses evaluated.
	if !ev.Guarded && ev.Account != "" && len(ev.Account) <= maxAccount {
		dst = c.countAcct(ev, pfx, b, t, dst)
	}
	return dst
}

// prefixOf returns what addr is counted as: itself, or its IPv6 prefix.
func (c *Counter) prefixOf(addr netip.Addr) netip.Prefix {
	addr = addr.Unmap().WithZone("")
	bits := 32
	if addr.Is6() {
		bits = c.v6
	}
	p, _ := addr.Prefix(bits)
	return p
}

func acctHash(name string) uint64 { return maphash.String(seed, name) }

func addrHash(p netip.Prefix) uint64 {
	var b [17]byte
	a := p.Addr().As16()
	copy(b[:], a[:])
	b[16] = byte(p.Bits())
	return maphash.Bytes(seed, b[:])
}

// trusted notes a proven login at pfx.
func (c *Counter) trusted(pfx netip.Prefix, ns int64) {
	h := addrHash(pfx)
	sh := c.addrs.Shard(h)
	sh.Lock()
	t, _ := sh.Get(h)
	t.okAt, t.last = ns, max(t.last, ns)
	sh.Put(h, t)
	sh.Unlock()
}

func (c *Counter) countAddr(ev *detect.Event, pfx netip.Prefix, b int64, at time.Time, dst []detect.Finding) []detect.Finding {
	ns := at.UnixNano()
	h := addrHash(pfx)
	sh := c.addrs.Shard(h)
	sh.Lock()
	t, _ := sh.Get(h)
	t.add(b, 1, ns)
	t.last = max(t.last, ns)
	total, own := t.counts()
	trusted := t.okAt != 0 && ns-t.okAt <= c.trust
	first := time.Unix(0, t.first)
	sh.Put(h, t)
	sh.Unlock()
	c.queue(pendKey{kind: kindAddr, sub: pfx, bucket: b}, 1, netip.Prefix{})

	if c.addrT <= 0 || total < c.addrT || total <= own {
		return dst
	}
	f := detect.Finding{
		Cause: detect.BadCredentials, Subject: detect.Subject{Prefix: pfx},
		Proven: true, Trusted: trusted,
		Evidence: c.evidence(ev, total, first, at),
	}
	if trusted {
		// Working devices log in here: guard the address, so that they keep
		// working while everything else is refused unchecked.
		f.Guard, f.OthersOK = true, true
	}
	f.Evidence.Detail = fmt.Sprintf("%d logins refused (rejected credentials, or a guard's refusals) from this address across the fleet, %d of them at this edge", total, own)
	return append(dst, f)
}

func (c *Counter) countAcct(ev *detect.Event, pfx netip.Prefix, b int64, at time.Time, dst []detect.Finding) []detect.Finding {
	ns := at.UnixNano()
	h := acctHash(ev.Account)
	src := pfx.Addr().As16()
	sh := c.accts.Shard(h)
	sh.Lock()
	t, _ := sh.Get(h)
	t.add(b, 1, ns)
	t.last = max(t.last, ns)
	total, own := t.counts()
	// Two sources or more: the fleet's, and this one if it is new to it.
	n := int(t.srcN)
	if n < 2 && (n == 0 || t.srcs[0] != src) {
		n++
	}
	srcs := t.srcs
	first := time.Unix(0, t.first)
	sh.Put(h, t)
	sh.Unlock()
	c.queue(pendKey{kind: kindAcct, acct: ev.Account, bucket: b}, 1, pfx)

	if c.acctT <= 0 || total < c.acctT || total <= own || n < 2 {
		return dst
	}
	acct := strings.Clone(ev.Account)
	f := detect.Finding{
		Cause: detect.BadCredentials, Subject: detect.Subject{Account: acct},
		Guard: true, Proven: true,
		Evidence: c.evidence(ev, total, first, at),
	}
	f.Evidence.DistinctAccounts = 1
	f.Evidence.Addresses = []netip.Addr{pfx.Addr()}
	for _, s := range srcs[:min(int(t.srcN), 2)] {
		if a := netip.AddrFrom16(s).Unmap(); s != src {
			f.Evidence.Addresses = append(f.Evidence.Addresses, a)
		}
	}
	f.Evidence.Detail = fmt.Sprintf("%d rejected credentials for account %q across the fleet, from %d address(es) or more", total, acct, n)
	return append(dst, f)
}

func (c *Counter) evidence(ev *detect.Event, total int, first, last time.Time) detect.Evidence {
	e := detect.Evidence{Count: total, First: first, Last: last, Ports: []uint16{ev.Source.Port()}}
	if ev.Account != "" {
		e.Accounts = []string{strings.Clone(ev.Account)}
	}
	if ev.UserAgent != "" {
		e.UserAgents = []string{strings.Clone(ev.UserAgent)}
	}
	if ev.Status != 0 {
		e.Statuses = []int{ev.Status}
	}
	return e
}

// queue adds n to what waits to be sent for k, and src to the account's
// sources.
func (c *Counter) queue(k pendKey, n int32, src netip.Prefix) {
	c.mu.Lock()
	p, ok := c.pending[k]
	if !ok && len(c.pending) >= c.maxPending {
		c.mu.Unlock()
		if m := c.full.Note(c.now()); m > 0 {
			c.log.Warn("sipban: fleet offence counts not sent: too many waiting; counted at this edge only", "count", m)
		}
		return
	}
	if !ok {
		k.acct = strings.Clone(k.acct) // the event's strings may alias a buffer
	}
	p.n += n
	p.srcs = addSource(p.srcs, src)
	c.pending[k] = p
	c.mu.Unlock()
}

// Forget implements detect.Forgetter: a Guard that bans an address or
// guards an account starts its count afresh, fleet-wide, since the
// fleet shares the ban. Other subjects are not counted here.
func (c *Counter) Forget(sub detect.Subject, lifted bool) {
	b := c.now().UnixNano() / c.width
	switch {
	case sub.Anywhere():
		if len(sub.Account) > maxAccount {
			return
		}
		c.clear(c.accts, acctHash(sub.Account))
		c.reset(pendKey{kind: kindAcct, acct: sub.Account, bucket: b})
	case sub.Account == "" && sub.Prefix.IsValid():
		p := c.prefixOf(sub.Prefix.Addr())
		if p != sub.Prefix.Masked() {
			return // not what addresses are counted by
		}
		c.clear(c.addrs, addrHash(p))
		c.reset(pendKey{kind: kindAddr, sub: p, bucket: b})
	}
}

func (c *Counter) clear(m *shardmap.Map[tally], h uint64) {
	sh := m.Shard(h)
	sh.Lock()
	defer sh.Unlock()
	if t, ok := sh.Get(h); ok {
		sh.Put(h, tally{head: t.head, okAt: t.okAt, last: t.last})
	}
}

// reset asks the next flush to clear a subject's counts in Redis before
// adding what was counted since.
func (c *Counter) reset(k pendKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for pk := range c.pending {
		if pk.kind == k.kind && pk.sub == k.sub && pk.acct == k.acct && pk.bucket < k.bucket {
			delete(c.pending, pk) // counted before the ban: cleared anyway
		}
	}
	k.acct = strings.Clone(k.acct)
	c.pending[k] = pend{reset: true}
}
