package ban

import (
	"encoding/binary"
	"net/netip"
	"sync/atomic"
	"time"
	"unicode/utf8"
	"unique"

	"github.com/sipban/sipban/detect"
)

// A Guard keeps its records packed, about 136 bytes each, in chunks that are
// never moved: a million bans must not cost a gigabyte. Strings are interned
// (a million scanner bans share one User-Agent) and clipped, and evidence
// that does not fit the packed form (several accounts or agents, a call
// script's rates) is kept whole beside it, capped.

const (
	chunkBits = 10
	chunkLen  = 1 << chunkBits

	// Caps on the evidence a record keeps; a sample says enough.
	maxSample = 8
	maxName   = 64  // an account name
	maxAgent  = 128 // a User-Agent
	maxDetail = 512
)

// Scopes, packed.
const (
	scopeAddress uint8 = iota
	scopeAccount
	scopeGuard
)

var scopeNames = [...]string{ScopeAddress, ScopeAccount, ScopeGuard}

func scopeCode(s string) uint8 {
	switch s {
	case ScopeAccount:
		return scopeAccount
	case ScopeGuard:
		return scopeGuard
	}
	return scopeAddress
}

// entry flags.
const (
	fUsed uint8 = 1 << iota
	fPrefix
	fProven
	fDevice   // the finding's Device, for the diagnosis
	fOthersOK // the finding's OthersOK
	fIs4
	fKnownDev // the failing device logged in as the account before
	fUnstored // queued for Options.Store, not yet written
)

// entry is one active record, packed.
type entry struct {
	since, until int64 // Unix nanoseconds
	first, last  int64 // the evidence's; 0 for the zero time
	hits         atomic.Int64
	account      unique.Handle[string] // the subject's
	evAccount    unique.Handle[string] // the evidence's one account
	agent        unique.Handle[string]
	detail       unique.Handle[string]
	big          *detect.Evidence // evidence that does not fit; nil for most
	count        uint32
	distinct     uint32
	pushed       uint32 // seconds after since the enforcers last got the ban
	gen          uint32 // bumped when the slot is freed
	pos          [2]int32
	ports        [2]uint16
	statuses     [2]uint16
	addr         [16]byte
	bits         uint8
	flags        uint8
	scope        uint8
	cause        detect.Cause
	level        uint8
	lens         uint8 // ports | statuses<<2 | accounts<<4 | agents<<5
}

func (e *entry) is(f uint8) bool { return e.flags&f != 0 }

func flagIf(on bool, f uint8) uint8 {
	if on {
		return f
	}
	return 0
}

func (e *entry) active(now int64) bool { return now < e.until }

func (e *entry) subject() detect.Subject {
	var s detect.Subject
	if e.is(fPrefix) {
		a := netip.AddrFrom16(e.addr)
		if e.is(fIs4) {
			a = a.Unmap()
		}
		s.Prefix = netip.PrefixFrom(a, int(e.bits))
	}
	if e.account != (unique.Handle[string]{}) {
		s.Account = e.account.Value()
	}
	return s
}

func (e *entry) prefix() netip.Prefix { return e.subject().Prefix }

func (e *entry) untilTime() time.Time { return fromNanos(e.until) }

// pushedAt packs now as when the enforcers last got e's ban.
func pushedAt(e *entry, now time.Time) uint32 {
	return uint32(min(max(now.UnixNano()-e.since, 0)/int64(time.Second), 1<<32-1))
}

func (e *entry) pushedTime() time.Time {
	return fromNanos(e.since + int64(e.pushed)*int64(time.Second))
}

// ref names a record across an unlock: a slot reused for another record
// has another generation.
type ref struct {
	e   *entry
	gen uint32
}

func (r ref) live() bool { return r.e != nil && r.e.gen == r.gen }

// held is what a record's work after the lock needs: its slot and what it
// was, which a reused slot no longer says.
type held struct {
	ref
	sub   detect.Subject
	scope uint8
	until time.Time
	cause detect.Cause
	level int
}

func (e *entry) hold() held {
	return held{ref: ref{e, e.gen}, sub: e.subject(), scope: e.scope, until: e.untilTime(), cause: e.cause, level: int(e.level)}
}

// table holds the records and finds them by subject. The caller locks.
type table struct {
	v4     map[uint64]uint32 // address<<8 | bits → slot+1
	v64    map[uint64]uint32 // IPv6 /64s by their upper half
	v6     map[[17]byte]uint32
	others map[detect.Subject]uint32 // subjects with an account
	chunks [][]entry
	free   []uint32
	n      int
	errs   map[uint32]string // enforcer errors by slot, for the few that have one
}

func newTable() table {
	return table{v4: map[uint64]uint32{}, v64: map[uint64]uint32{}, v6: map[[17]byte]uint32{}, others: map[detect.Subject]uint32{}, errs: map[uint32]string{}}
}

func (t *table) len() int { return t.n }

func (t *table) slot(i uint32) *entry { return &t.chunks[i>>chunkBits][i&(chunkLen-1)] }

// find returns the slot holding sub.
func (t *table) find(sub detect.Subject) (uint32, bool) {
	var i uint32
	switch {
	case sub.Account != "":
		i = t.others[sub]
	case !sub.Prefix.IsValid():
		return 0, false
	case sub.Prefix.Addr().Is4():
		i = t.v4[key4(sub.Prefix)]
	case sub.Prefix.Bits() == 64:
		i = t.v64[hi64(sub.Prefix)]
	default:
		i = t.v6[key6(sub.Prefix)]
	}
	return i - 1, i != 0
}

func key4(p netip.Prefix) uint64 {
	a := p.Addr().As4()
	return uint64(a[0])<<32 | uint64(a[1])<<24 | uint64(a[2])<<16 | uint64(a[3])<<8 | uint64(p.Bits())
}

func hi64(p netip.Prefix) uint64 {
	a := p.Addr().As16()
	return binary.BigEndian.Uint64(a[:8])
}

func key6(p netip.Prefix) (k [17]byte) {
	a := p.Addr().As16()
	copy(k[:], a[:])
	k[16] = byte(p.Bits())
	return k
}

// get returns the record for exactly sub, or nil.
func (t *table) get(sub detect.Subject) *entry {
	if i, ok := t.find(sub); ok {
		return t.slot(i)
	}
	return nil
}

// put stores a new record for sub, which must have none, and returns it,
// its flags, subject and scope set.
func (t *table) put(sub detect.Subject, scope uint8) *entry {
	var i uint32
	if n := len(t.free); n > 0 {
		i = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		if t.n == len(t.chunks)*chunkLen {
			t.chunks = append(t.chunks, make([]entry, chunkLen))
		}
		i = uint32(t.n)
	}
	t.n++
	switch {
	case sub.Account != "":
		t.others[sub] = i + 1
	case sub.Prefix.Addr().Is4():
		t.v4[key4(sub.Prefix)] = i + 1
	case sub.Prefix.Bits() == 64:
		t.v64[hi64(sub.Prefix)] = i + 1
	default:
		t.v6[key6(sub.Prefix)] = i + 1
	}
	e := t.slot(i)
	gen := e.gen
	*e = entry{gen: gen, flags: fUsed, scope: scope, pos: [2]int32{-1, -1}}
	if sub.Prefix.IsValid() {
		e.flags |= fPrefix
		e.addr = sub.Prefix.Addr().As16()
		e.bits = uint8(sub.Prefix.Bits())
		if sub.Prefix.Addr().Is4() {
			e.flags |= fIs4
		}
	}
	if sub.Account != "" {
		e.account = unique.Make(sub.Account)
	}
	return e
}

// remove frees e's slot; refs to it stop being live.
func (t *table) remove(e *entry) {
	sub := e.subject()
	i, ok := t.find(sub)
	if !ok || t.slot(i) != e {
		return
	}
	switch {
	case sub.Account != "":
		delete(t.others, sub)
	case sub.Prefix.Addr().Is4():
		delete(t.v4, key4(sub.Prefix))
	case sub.Prefix.Bits() == 64:
		delete(t.v64, hi64(sub.Prefix))
	default:
		delete(t.v6, key6(sub.Prefix))
	}
	delete(t.errs, i)
	*e = entry{gen: e.gen + 1, pos: [2]int32{-1, -1}}
	t.free = append(t.free, i)
	t.n--
}

// all calls fn for each record until it returns false.
func (t *table) all(fn func(e *entry) bool) {
	for _, c := range t.chunks {
		for i := range c {
			if c[i].is(fUsed) && !fn(&c[i]) {
				return
			}
		}
	}
}

// setError notes an enforcer's error on e, or clears it with "".
func (t *table) setError(e *entry, msg string) {
	i, ok := t.find(e.subject())
	if !ok || t.slot(i) != e {
		return
	}
	if msg == "" {
		delete(t.errs, i)
		return
	}
	t.errs[i] = clip(msg, maxDetail)
}

func (t *table) errorOf(e *entry) string {
	if len(t.errs) == 0 {
		return ""
	}
	if i, ok := t.find(e.subject()); ok && t.slot(i) == e {
		return t.errs[i]
	}
	return ""
}

// setEvidence packs ev into e.
func (e *entry) setEvidence(ev *detect.Evidence) {
	e.first, e.last = nanos(ev.First), nanos(ev.Last)
	e.detail = intern(ev.Detail, maxDetail)
	if !fits(ev) {
		e.big = capEvidence(ev)
		return
	}
	e.count = uint32(ev.Count)
	e.distinct = uint32(ev.DistinctAccounts)
	for i, p := range ev.Ports {
		e.ports[i] = p
	}
	for i, s := range ev.Statuses {
		e.statuses[i] = uint16(s)
	}
	e.lens = uint8(len(ev.Ports)) | uint8(len(ev.Statuses))<<2 | uint8(len(ev.Accounts))<<4 | uint8(len(ev.UserAgents))<<5
	if len(ev.Accounts) == 1 {
		e.evAccount = intern(ev.Accounts[0], maxName)
	}
	if len(ev.UserAgents) == 1 {
		e.agent = intern(ev.UserAgents[0], maxAgent)
	}
}

// fits reports whether ev packs into an entry without loss.
func fits(ev *detect.Evidence) bool {
	if len(ev.Accounts) > 1 || len(ev.UserAgents) > 1 || len(ev.Ports) > 2 || len(ev.Statuses) > 2 ||
		len(ev.Addresses) > 0 || ev.Interval != 0 || ev.Unanswered != 0 ||
		ev.Count < 0 || ev.Count > 1<<32-1 || ev.DistinctAccounts < 0 || ev.DistinctAccounts > 1<<32-1 {
		return false
	}
	for _, s := range ev.Statuses {
		if s < 0 || s > 1<<16-1 {
			return false
		}
	}
	return true
}

// capEvidence copies ev with its samples and strings cut to the caps.
func capEvidence(ev *detect.Evidence) *detect.Evidence {
	c := *ev
	c.Detail = ""
	c.Accounts = clipAll(ev.Accounts, maxName)
	c.UserAgents = clipAll(ev.UserAgents, maxAgent)
	c.Addresses = append([]netip.Addr(nil), ev.Addresses[:min(len(ev.Addresses), maxSample)]...)
	c.Ports = append([]uint16(nil), ev.Ports[:min(len(ev.Ports), maxSample)]...)
	c.Statuses = append([]int(nil), ev.Statuses[:min(len(ev.Statuses), maxSample)]...)
	return &c
}

func clipAll(ss []string, n int) []string {
	if len(ss) == 0 {
		return nil
	}
	out := make([]string, min(len(ss), maxSample))
	for i := range out {
		out[i] = intern(ss[i], n).Value()
	}
	return out
}

// evidence unpacks e's evidence.
func (e *entry) evidence() detect.Evidence {
	var ev detect.Evidence
	if e.big != nil {
		ev = *e.big
		ev.Accounts = append([]string(nil), ev.Accounts...)
		ev.UserAgents = append([]string(nil), ev.UserAgents...)
		ev.Addresses = append([]netip.Addr(nil), ev.Addresses...)
		ev.Ports = append([]uint16(nil), ev.Ports...)
		ev.Statuses = append([]int(nil), ev.Statuses...)
	} else {
		ev.Count, ev.DistinctAccounts = int(e.count), int(e.distinct)
		if n := e.lens & 3; n > 0 {
			ev.Ports = append([]uint16(nil), e.ports[:n]...)
		}
		if n := e.lens >> 2 & 3; n > 0 {
			ev.Statuses = make([]int, n)
			for i := range ev.Statuses {
				ev.Statuses[i] = int(e.statuses[i])
			}
		}
		if e.lens>>4&1 != 0 {
			ev.Accounts = []string{e.evAccount.Value()}
		}
		if e.lens>>5&1 != 0 {
			ev.UserAgents = []string{e.agent.Value()}
		}
	}
	ev.First, ev.Last = fromNanos(e.first), fromNanos(e.last)
	ev.Detail = e.detail.Value()
	return ev
}

// record unpacks e; the caller renders the diagnosis.
func (t *table) record(e *entry) Record {
	return Record{
		Subject:      e.subject(),
		Scope:        scopeNames[e.scope],
		Cause:        e.cause,
		Level:        int(e.level),
		Since:        fromNanos(e.since),
		Until:        fromNanos(e.until),
		Proven:       e.is(fProven),
		Evidence:     e.evidence(),
		Blocked:      e.hits.Load(),
		EnforceError: t.errorOf(e),
	}
}

func intern(s string, n int) unique.Handle[string] { return unique.Make(clip(s, n)) }

// clip cuts s to at most n bytes, at a character boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
