package detect

import (
	"fmt"
	"math"
	"math/bits"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"
)

// Standard is the detector for the patterns every SIP service meets: bad
// credentials, stale accounts, enumeration, call rate, signalling errors and
// scanners. It keeps one compact record per source (an address, or an IPv6
// prefix) for all of them, in a table bounded by Limits.MaxSources.
//
// A Standard reports a finding on every event past a threshold until Forget
// is called for the subject; a Guard calls it when it bans.
// A Standard is safe for concurrent use.
type Standard struct {
	lim   Limits
	t     *table
	accts *accounts
	base  atomic.Int64 // Unix nanoseconds of tick 0
	clock func() time.Time

	// Limits in ticks and bucket widths.
	failW, unkW, probeW, sigW, slowW uint32
	acctW, acctSlowW, acctSpan       uint32
	trust, callW, callT, scanT       uint32
}

var (
	_ Detector  = (*Standard)(nil)
	_ Forgetter = (*Standard)(nil)
	_ Truster   = (*Standard)(nil)
	_ Replayer  = (*Standard)(nil)
)

// tickShift makes a tick 2^26 ns (about 67 ms); a uint32 of ticks spans 9 years.
const tickShift = 26

// rec is what Standard remembers of one source. It holds no pointers.
type rec struct {
	// first is when the trouble the windows hold began (the address's
	// first event, or its first since they emptied); last is its last.
	first, last uint32 // ticks
	okAt        uint32 // last accepted credentials
	// okAcct is the hash of the first account that logged in with proof
	// within the trust window; flagOthersOK says another one did too. That
	// answers "has an account other than this one logged in here?" exactly,
	// where a Bloom filter once answered "no" for a site with two devices,
	// 1 pair of names in 1,200, and banned its working phone with the
	// broken one.
	okAcct uint32
	// Bit sets of account-name hashes: a cheap distinct count.
	failMask, unkMask, probeMask, optMask uint32
	// Two accounts failing most recently, and their failures.
	acct                  [2]uint32
	acctN                 [2]uint16
	fail, unk, probe, sig window
	slow                  window // long window of rejected credentials; survives Forget
	tat                   uint32 // call rate: theoretical arrival time
	calls, unans          uint16 // decaying counts of calls and unanswered ones
	unkPrev               uint32 // last unknown-account attempt
	gapMin, gapMax        uint16 // seconds between them
	ua                    uint32 // hash of the last User-Agent
	port0, port1          uint16 // first and last source port
	sigStatus             uint16
	flags                 uint8
}

const (
	flagCreds    uint8 = 1 << iota // credentials presented since the last Forget
	flagOthersOK                   // a second account logged in (okAcct)
)

// loggedIn notes a proven login of account hash acct.
func (r *rec) loggedIn(acct uint32) {
	switch {
	case r.okAcct == 0:
		r.okAcct = acct
	case r.okAcct != acct:
		r.flags |= flagOthersOK
	}
}

// othersOK reports whether an account other than acct logged in.
func (r *rec) othersOK(acct uint32) bool {
	return r.flags&flagOthersOK != 0 || r.okAcct != 0 && r.okAcct != acct
}

// window counts events in four buckets; the newest is head, a bucket
// number modulo 2^16: six bytes instead of eight keep a record within its
// budget. A record left untouched for exactly a multiple of 2^16 buckets
// (152 days for a 10-minute window) could see old counts again; the table
// evicts such records long before.
type window struct {
	head uint16
	b    [4]uint8
}

// advance moves the window to bucket bn, emptying buckets that fell out.
func (w *window) advance(bn uint32) {
	d := uint16(bn) - w.head
	if d == 0 {
		return
	}
	if d >= 4 {
		w.b = [4]uint8{}
	} else {
		copy(w.b[d:], w.b[:4-d])
		for i := uint16(0); i < d; i++ {
			w.b[i] = 0
		}
	}
	w.head = uint16(bn)
}

func (w *window) sum() int { return int(w.b[0]) + int(w.b[1]) + int(w.b[2]) + int(w.b[3]) }

// add counts n events at tick now; width is a bucket's span in ticks.
func (w *window) add(now, width uint32, n uint8) int {
	w.advance(now / width)
	w.b[0] = uint8(min(int(w.b[0])+int(n), math.MaxUint8))
	return w.sum()
}

// count returns the events in the window at tick now.
func (w *window) count(now, width uint32) int {
	w.advance(now / width)
	return w.sum()
}

// NewStandard returns a Standard with limits l; zero fields take defaults.
func NewStandard(l Limits) (*Standard, error) {
	l, err := l.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Standard{lim: l, t: newTable(l.MaxSources), accts: newAccounts(l.MaxAccounts), clock: time.Now}
	width := func(d time.Duration) uint32 { return max(ticks(d)/3+1, 1) }
	s.failW = width(l.BadCredentials.Window)
	s.unkW = width(l.StaleAccount.Window)
	s.probeW = width(l.Enumeration.Window)
	s.sigW = width(l.Signalling.Window)
	s.slowW = width(l.SlowCredentials.Window)
	s.acctW = width(l.AccountCredentials.Window)
	s.acctSlowW = width(l.AccountSlow.Window)
	s.acctSpan = ticks(l.AccountCredentials.Window)
	s.trust = ticks(l.TrustWindow)
	s.callW = ticks(l.CallRate.Window)
	if l.CallRate.Threshold > 0 {
		s.callT = max(s.callW/uint32(l.CallRate.Threshold), 1)
	}
	s.scanT = ticks(2 * time.Second)
	return s, nil
}

func ticks(d time.Duration) uint32 {
	return uint32(min(int64(d)>>tickShift, math.MaxUint32))
}

// Limits returns the limits in force, defaults filled in.
func (s *Standard) Limits() Limits { return s.lim }

// Len returns how many sources are tracked.
func (s *Standard) Len() int {
	n := 0
	for i := range s.t.shards {
		sh := &s.t.shards[i]
		sh.mu.Lock()
		n += sh.n
		sh.mu.Unlock()
	}
	return n
}

// tick converts t to ticks since the first event seen, less an hour.
func (s *Standard) tick(t time.Time) uint32 {
	ns := t.UnixNano()
	base := s.base.Load()
	if base == 0 {
		s.base.CompareAndSwap(0, ns-int64(time.Hour))
		base = s.base.Load()
	}
	d := ns - base
	if d < 0 {
		return 0
	}
	return uint32(min(d>>tickShift, math.MaxUint32))
}

func (s *Standard) time(t uint32) time.Time {
	return time.Unix(0, s.base.Load()+int64(t)<<tickShift)
}

// keyOf returns the table key for addr: the address, or its IPv6 prefix.
func (s *Standard) keyOf(addr netip.Addr) (key, netip.Prefix) {
	addr = addr.Unmap().WithZone("") // a link-local zone names an interface, not a source
	bits := 32
	if addr.Is6() {
		bits = s.lim.V6Prefix
	}
	p, _ := addr.Prefix(bits)
	return key(p.Addr().As16()), p
}

func bit(h uint32) uint32 { return 1 << (h & 31) }

// linear[n] estimates how many distinct names set n of 32 bits (linear counting).
var linear = func() (t [33]uint16) {
	for n := range 32 {
		t[n] = uint16(math.Round(-32 * math.Log(1-float64(n)/32)))
	}
	t[32] = 200
	return t
}()

// distinct estimates the names behind m, for evidence.
func distinct(m uint32) int { return int(linear[bits.OnesCount32(m)]) }

// atLeast is a lower bound on the names behind m: colliding names share a
// bit, so thresholds compared with it are never reached early.
func atLeast(m uint32) int { return bits.OnesCount32(m) }

// signallingStatus reports whether an INVITE answered st was refused as sent.
func signallingStatus(st int) bool {
	switch st {
	case 400, 403, 404, 415, 416, 420, 484, 488:
		return true
	}
	return false
}

// Observe implements Detector.
//
// Evidence without proof (Event.Proven: a nonce issued to the source, or a
// connection) never counts against an address with a recent proven login:
// a forged UDP source can cost such an address nothing. Such an address is
// guarded rather than banned when failures from it spread over accounts.
func (s *Standard) Observe(ev *Event, dst []Finding) []Finding {
	if ev.Validate() != nil {
		return dst
	}
	t := ev.Time
	if t.IsZero() {
		t = s.clock()
	}
	now := s.tick(t)
	k, sub := s.keyOf(ev.Source.Addr())
	dst, acctFail := s.observe(ev, k, sub, now, dst)
	if acctFail {
		dst = s.account(ev, k, now, dst)
	}
	return dst
}

// Replay implements Replayer.
func (s *Standard) Replay(ev *Event) {
	if ev.Validate() == nil && !ev.Time.IsZero() {
		s.Observe(ev, nil)
	}
}

// Trust records a proven login of account from addr at t, as Observe
// records a successful authentication with proof: what a Guard calls for
// each known device it restores.
func (s *Standard) Trust(addr netip.Addr, account string, t time.Time) {
	now := s.tick(t)
	if now == 0 {
		return // before the first tick: older than any window
	}
	k, _ := s.keyOf(addr)
	sh, r, _ := s.lock(&k, now)
	defer sh.mu.Unlock()
	r.last = max(r.last, now)
	acct := hashString(account)
	sh.remember(account, acct)
	r.okAt = max(r.okAt, now)
	r.loggedIn(acct)
}

// lock locks k's shard and returns it with k's record, added (first seen
// now) if there was none; the caller unlocks the shard.
func (s *Standard) lock(k *key, now uint32) (sh *shard, r *rec, added bool) {
	h := hashKey(k)
	sh = s.t.shard(h)
	sh.mu.Lock()
	r, added = sh.get(k, h)
	if added {
		r.first = now
	}
	return sh, r, added
}

// proven reports whether ev's source is known not to be forged.
func (s *Standard) proven(ev *Event) bool { return ev.Proven || s.lim.TrustUnproven }

// observe judges ev against its source's record; acctFail reports a proven
// rejection of an existing account, for the per-account count.
func (s *Standard) observe(ev *Event, k key, sub netip.Prefix, now uint32, dst []Finding) (_ []Finding, acctFail bool) {
	sh, r, added := s.lock(&k, now)
	defer sh.mu.Unlock()
	if added {
		r.port0 = ev.Source.Port()
	}
	// Evidence starts with the trouble, not when the address was first
	// seen: a site's phones may have logged in for days before one fails.
	if s.quiet(r, now) {
		r.first = now
	}
	r.last = now
	r.port1 = ev.Source.Port()

	var acct uint32
	if ev.Account != "" {
		acct = hashString(ev.Account)
		sh.remember(ev.Account, acct)
	}
	proven := s.proven(ev)
	recentOK := r.trusted(now, s.trust)
	if !recentOK {
		r.okAcct, r.flags = 0, r.flags&^flagOthersOK
	}
	if ev.UserAgent != "" {
		if ua := hashString(ev.UserAgent); ua != r.ua {
			r.ua = ua
			sh.remember(ev.UserAgent, ua)
			// One datagram can carry any source: a scanner's name at an
			// address with a proven login is dropped, not banned.
			if name, ok := ScannerAgent(ev.UserAgent); ok && !recentOK {
				f := s.finding(sh, r, ev, Scanner, Subject{Prefix: sub}, 1)
				f.Evidence.Detail = fmt.Sprintf("User-Agent %q is the scanner %s", ev.UserAgent, name)
				return append(dst, f), false
			}
		}
	}
	// Requests for accounts that do not exist are let through: at most they
	// block that missing account there, which costs the customer nothing.
	if recentOK && !proven && !ev.Unknown() {
		return dst, false
	}
	othersOK := recentOK && r.othersOK(acct)

	switch {
	case ev.Malformed != "":
		return s.signalling(sh, r, ev, sub, now, recentOK, othersOK, dst), false
	// An account that does not exist has no password to find: a request
	// for one counts as such, even refused like a wrong password (403).
	case ev.Unknown():
		r.flags |= flagCreds
		r.unk.add(now, s.unkW, 1)
		if r.probe.count(now, s.probeW) == 0 {
			r.probeMask, r.optMask = 0, 0
		}
		r.probe.add(now, s.probeW, 1)
		r.unkMask |= bit(acct)
		r.probeMask |= bit(acct)
		an := r.countAccount(acct, r.fail.count(now, s.failW)+r.unk.sum())
		if r.acct[0] == acct && r.unkPrev != 0 {
			gap := uint16(min((uint64(now-r.unkPrev)<<tickShift+uint64(time.Second)/2)/uint64(time.Second), math.MaxUint16))
			if r.gapMin == 0 || gap < r.gapMin {
				r.gapMin = gap
			}
			r.gapMax = max(r.gapMax, gap)
		}
		if r.acct[0] == acct {
			r.unkPrev = now
		}
		if pd := atLeast(r.probeMask); !recentOK && s.lim.Enumeration.Threshold > 0 && pd >= s.lim.Enumeration.Threshold {
			f := s.finding(sh, r, ev, Enumeration, Subject{Prefix: sub}, r.probe.sum())
			f.Evidence.DistinctAccounts = pd
			f.Evidence.Detail = fmt.Sprintf("about %d distinct missing accounts asked for", pd)
			return append(dst, f), false
		}
		if s.lim.StaleAccount.Threshold > 0 && an >= s.lim.StaleAccount.Threshold {
			d := atLeast(r.unkMask)
			f := s.finding(sh, r, ev, StaleAccount, Subject{Prefix: sub, Account: strings.Clone(ev.Account)}, an)
			f.Device = d <= s.lim.DeviceAccounts || recentOK
			f.OthersOK = othersOK
			if r.acct[0] == acct && r.gapMax > 0 {
				f.Evidence.Interval = time.Duration(int(r.gapMin)+int(r.gapMax)) * time.Second / 2
			}
			f.Evidence.Detail = fmt.Sprintf("%d requests for missing account %q", an, ev.Account)
			if r.gapMax > 0 && r.gapMax <= 2*r.gapMin {
				f.Evidence.Detail += fmt.Sprintf(", regularly every %d to %d s", r.gapMin, r.gapMax)
			}
			return append(dst, f), false
		}
	case ev.Rejected():
		r.flags |= flagCreds
		n := r.fail.add(now, s.failW, 1)
		slow := r.slow.add(now, s.slowW, 1)
		r.failMask |= bit(acct)
		an := r.countAccount(acct, r.fail.sum()+r.unk.count(now, s.unkW))
		device := atLeast(r.failMask) <= s.lim.DeviceAccounts
		acctFail = proven && !ev.Guarded && ev.Account != ""
		if othersOK {
			// Working devices here: block a failing device's account, and
			// guard the address when failures spread over accounts or pile
			// up; account blocks do not reset the address's count.
			if device && s.lim.AccountFailures.Threshold > 0 && an >= s.lim.AccountFailures.Threshold {
				f := s.finding(sh, r, ev, BadCredentials, Subject{Prefix: sub, Account: strings.Clone(ev.Account)}, an)
				f.Device, f.OthersOK = true, true
				f.Evidence.Detail = fmt.Sprintf("%d rejected credentials for account %q; other accounts work from this address", an, ev.Account)
				dst = append(dst, f)
			}
			if !device && s.lim.BadCredentials.Threshold > 0 && n >= s.lim.BadCredentials.Threshold || s.slowOver(slow) {
				f := s.finding(sh, r, ev, BadCredentials, Subject{Prefix: sub}, max(n, slow))
				f.OthersOK, f.Guard = true, true
				s.hold(&f, slow)
				f.Evidence.Detail = fmt.Sprintf("%d logins refused (rejected credentials, or a guard's refusals) for about %d account(s) from an address where other accounts work", max(n, slow), distinct(r.failMask))
				dst = append(dst, f)
			}
			return dst, acctFail
		}
		if s.lim.BadCredentials.Threshold > 0 && n >= s.lim.BadCredentials.Threshold || s.slowOver(slow) {
			f := s.finding(sh, r, ev, BadCredentials, Subject{Prefix: sub}, max(n, slow))
			if device {
				f.Subject.Account = strings.Clone(ev.Account)
			}
			s.hold(&f, slow)
			f.Device = device && recentOK
			f.Evidence.Detail = fmt.Sprintf("%d logins refused (rejected credentials, or a guard's refusals) for about %d account(s)", max(n, slow), distinct(r.failMask))
			return append(dst, f), acctFail
		}
		return dst, acctFail
	case ev.Challenged():
		if recentOK || r.flags&flagCreds != 0 {
			break
		}
		if r.probe.count(now, s.probeW) == 0 {
			r.probeMask, r.optMask = 0, 0
		}
		n := r.probe.add(now, s.probeW, 1)
		r.probeMask |= bit(acct)
		// Phones booting together are all challenged before any answers; a
		// scanner never answers. Judge only after a pause.
		if pd := atLeast(r.probeMask); s.lim.Enumeration.Threshold > 0 && pd >= s.lim.Enumeration.Threshold && now-r.first >= s.scanT {
			f := s.finding(sh, r, ev, Enumeration, Subject{Prefix: sub}, n)
			f.Evidence.DistinctAccounts = pd
			f.Evidence.Detail = fmt.Sprintf("about %d distinct accounts challenged and never answered with credentials", pd)
			return append(dst, f), false
		}
	case ev.Authenticated():
		r.flags |= flagCreds
		if !proven {
			break // trust is earned only by a sender that reads our answers
		}
		r.okAt = now
		r.loggedIn(acct)
		for i := range r.acct {
			if r.acct[i] == acct {
				r.acctN[i] = 0
			}
		}
	}
	if ev.Credentials && !ev.Rejected() {
		r.flags |= flagCreds
	}

	switch ev.Method {
	case "INVITE":
		// A challenged INVITE is half of a normal call attempt, unless the
		// source never answers challenges: then it is the whole attempt.
		if ev.Challenged() && (recentOK || r.flags&flagCreds != 0) || ev.Rejected() || ev.Unknown() {
			return dst, false
		}
		if dst = s.callRate(sh, r, ev, sub, now, recentOK, othersOK, dst); len(dst) > 0 {
			return dst, false
		}
		if signallingStatus(ev.Status) {
			return s.signalling(sh, r, ev, sub, now, recentOK, othersOK, dst), false
		}
	case "OPTIONS":
		if recentOK || s.lim.OptionsSweep < 0 || ev.Challenged() {
			return dst, false
		}
		if r.probe.count(now, s.probeW) == 0 {
			r.probeMask, r.optMask = 0, 0
		}
		n := r.probe.add(now, s.probeW, 1)
		r.optMask |= bit(hashString(ev.Target))
		if od := atLeast(r.optMask); od >= s.lim.OptionsSweep {
			f := s.finding(sh, r, ev, Scanner, Subject{Prefix: sub}, n)
			f.Evidence.DistinctAccounts = od
			f.Evidence.Detail = fmt.Sprintf("OPTIONS sweep over about %d distinct users", od)
			return append(dst, f), false
		}
	}
	return dst, false
}

// quiet reports whether r's windows, the long one too, hold no trouble
// at now, and no call runs ahead of its rate.
func (s *Standard) quiet(r *rec, now uint32) bool {
	return r.tat <= now && r.fail.count(now, s.failW) == 0 && r.slow.count(now, s.slowW) == 0 &&
		r.unk.count(now, s.unkW) == 0 && r.probe.count(now, s.probeW) == 0 && r.sig.count(now, s.sigW) == 0
}

// trusted reports whether r's address had a proven login within trust ticks
// of now.
func (r *rec) trusted(now, trust uint32) bool { return r.okAt != 0 && now-r.okAt <= trust }

// countAccount adds a failure for account hash a and returns its count. A
// count is reset when all the address's failure windows are empty (total 0
// before this failure was added is reported as total <= 1).
func (r *rec) countAccount(a uint32, total int) int {
	if total <= 1 {
		r.acctN = [2]uint16{}
	}
	i := 0
	switch {
	case r.acct[0] == a:
	case r.acct[1] == a:
		i = 1
	default:
		// Replace the account with fewer failures; the newcomer goes first.
		if r.acctN[1] > r.acctN[0] {
			r.acct[0], r.acctN[0] = r.acct[1], r.acctN[1]
		}
		r.acct[1], r.acctN[1] = r.acct[0], r.acctN[0]
		r.acct[0], r.acctN[0] = a, 0
		r.unkPrev, r.gapMin, r.gapMax = 0, 0, 0
	}
	if r.acctN[i] < math.MaxUint16 {
		r.acctN[i]++
	}
	return int(r.acctN[i])
}

func (s *Standard) callRate(sh *shard, r *rec, ev *Event, sub netip.Prefix, now uint32, recentOK, othersOK bool, dst []Finding) []Finding {
	answered := ev.Status >= 200 && ev.Status < 300
	if r.calls++; !answered {
		r.unans++
	}
	if r.calls >= 1024 {
		r.calls, r.unans = r.calls/2, r.unans/2
	}
	if s.callT == 0 {
		return dst
	}
	cost := s.callT
	if answered {
		cost = max(cost/4, 1)
	}
	r.tat = max(r.tat, now) + cost
	if r.tat-now <= s.callW {
		return dst
	}
	f := s.finding(sh, r, ev, CallRate, Subject{Prefix: sub, Account: strings.Clone(ev.Account)}, s.lim.CallRate.Threshold)
	f.Device = ev.Credentials && recentOK
	f.OthersOK = othersOK
	f.Evidence.Unanswered = float64(r.unans) / float64(r.calls)
	f.Evidence.Detail = fmt.Sprintf("call attempts above %d per %v, %.0f%% unanswered", s.lim.CallRate.Threshold, s.lim.CallRate.Window, f.Evidence.Unanswered*100)
	return append(dst, f)
}

func (s *Standard) signalling(sh *shard, r *rec, ev *Event, sub netip.Prefix, now uint32, recentOK, othersOK bool, dst []Finding) []Finding {
	n := r.sig.add(now, s.sigW, 1)
	r.sigStatus = uint16(ev.Status)
	if s.lim.Signalling.Threshold <= 0 || n < s.lim.Signalling.Threshold {
		return dst
	}
	f := s.finding(sh, r, ev, Signalling, Subject{Prefix: sub, Account: strings.Clone(ev.Account)}, n)
	f.Device = recentOK
	f.OthersOK = othersOK
	if ev.Malformed != "" {
		f.Evidence.Detail = fmt.Sprintf("%d requests refused as sent or unreadable; the last, unreadable and never answered: %s", n, ev.Malformed)
	} else {
		f.Evidence.Detail = fmt.Sprintf("%d calls refused as sent, the last with %d", n, ev.Status)
	}
	if recentOK {
		f.Evidence.Detail += "; registrations from this address succeed"
	}
	return append(dst, f)
}

// finding builds a finding with the evidence r holds.
func (s *Standard) finding(sh *shard, r *rec, ev *Event, c Cause, sub Subject, count int) Finding {
	e := Evidence{Count: count, First: s.time(r.first), Last: ev.Time}
	if e.Last.IsZero() {
		e.Last = s.time(r.last)
	}
	// Event strings may alias the caller's buffer: a finding keeps copies.
	if ev.Account != "" {
		e.Accounts = append(e.Accounts, strings.Clone(ev.Account))
	}
	for _, a := range r.acct {
		if n := sh.name(a); n != "" && n != ev.Account {
			e.Accounts = append(e.Accounts, n)
		}
	}
	e.DistinctAccounts = max(distinct(r.failMask|r.unkMask|r.probeMask), len(e.Accounts))
	if ev.UserAgent != "" {
		e.UserAgents = []string{strings.Clone(ev.UserAgent)}
	}
	// The first port seen from an address may be another device's; name it
	// only when the whole address is concerned and no login there makes it
	// likely a working phone's.
	trusted := r.trusted(r.last, s.trust)
	e.Ports = []uint16{ev.Source.Port()}
	if sub.Account == "" && !trusted && r.port0 != ev.Source.Port() {
		e.Ports = append([]uint16{r.port0}, e.Ports...)
	}
	if ev.Status != 0 {
		e.Statuses = []int{ev.Status}
	} else if c == Signalling {
		e.Statuses = []int{0}
	}
	if r.calls > 0 {
		e.Unanswered = float64(r.unans) / float64(r.calls)
	}
	return Finding{Cause: c, Subject: sub, Proven: s.proven(ev), Trusted: trusted, Evidence: e}
}

// slowOver reports whether n failures reach the long window's threshold.
func (s *Standard) slowOver(n int) bool {
	return s.lim.SlowCredentials.Threshold > 0 && n >= s.lim.SlowCredentials.Threshold
}

// hold makes a finding the long window decided last as long as the window,
// so that the next guess does not find the response over and the count
// still standing.
func (s *Standard) hold(f *Finding, slow int) {
	if s.slowOver(slow) {
		f.Hold = s.lim.SlowCredentials.Window
	}
}

// Forget implements Forgetter. For an address or prefix it clears what
// counts toward findings there, keeping the history of successful logins
// and, unless lifted, the long window that catches the patient guesser. For
// an account at an address it clears that account's count only, so that
// blocking one account does not reset the address's count. For an account
// anywhere it clears that account's count across addresses.
func (s *Standard) Forget(sub Subject, lifted bool) {
	if !sub.IsValid() {
		return
	}
	if sub.Anywhere() {
		s.accts.forget(accountHash(sub.Account), lifted)
		return
	}
	k, p := s.keyOf(sub.Prefix.Addr())
	if p.Bits() < sub.Prefix.Bits() {
		return // narrower than what is tracked; nothing of its own to clear
	}
	h := hashKey(&k)
	sh := s.t.shard(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r := sh.find(&k, h)
	if r == nil {
		return
	}
	if sub.Account != "" && !lifted {
		a := hashString(sub.Account)
		for i := range r.acct {
			if r.acct[i] == a {
				r.acctN[i] = 0
			}
		}
		return
	}
	keep := rec{
		first: r.first, last: r.last, okAt: r.okAt, okAcct: r.okAcct,
		port0: r.port0, port1: r.port1, flags: r.flags & flagOthersOK,
	}
	if !lifted {
		keep.slow = r.slow
	}
	*r = keep
}

// account counts a proven rejection of ev's account across all addresses,
// and asks for a guard on the account when guessing spreads over addresses
// or piles up over the long window.
func (s *Standard) account(ev *Event, k key, now uint32, dst []Finding) []Finding {
	r := s.accts.fail(accountHash(ev.Account), k, now, s.acctW, s.acctSlowW, 1)
	short, long := r.short.sum(), r.long.sum()
	spread := s.lim.AccountCredentials.Threshold > 0 && short >= s.lim.AccountCredentials.Threshold && r.spread(now, s.acctSpan)
	if !spread && (s.lim.AccountSlow.Threshold <= 0 || long < s.lim.AccountSlow.Threshold) {
		return dst
	}
	n := short
	if !spread {
		n = long
	}
	f := Finding{Cause: BadCredentials, Subject: Subject{Account: strings.Clone(ev.Account)}, Guard: true, Proven: true}
	if s.lim.AccountSlow.Threshold > 0 && long >= s.lim.AccountSlow.Threshold {
		f.Hold = s.lim.AccountSlow.Window
	}
	f.Evidence = Evidence{
		Count: n, First: s.time(r.first), Last: ev.Time,
		Accounts: []string{f.Subject.Account}, DistinctAccounts: 1,
		Addresses: r.sources(),
	}
	if ev.Status != 0 {
		f.Evidence.Statuses = []int{ev.Status}
	}
	f.Evidence.Detail = fmt.Sprintf("%d rejected credentials for account %q from %d address(es) or more", n, ev.Account, len(f.Evidence.Addresses))
	return append(dst, f)
}
