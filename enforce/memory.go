package enforce

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/bits"
	"net/netip"
	"sync"
	"time"
)

// Memory is an in-process enforcer: it answers whether a source is blocked, in
// time independent of the number of bans (one map lookup per prefix length in
// use). It drops nothing by itself; a transport read filter asks it.
//
// The zero Memory is not usable; call NewMemory. A Memory is safe for
// concurrent use.
type Memory struct {
	now func() time.Time
	// Expiries are kept as offsets from base, so that the default clock can
	// be read monotonically: half the cost of time.Now on the hot path.
	base time.Time
	mono bool // now is the default clock

	mu sync.RWMutex
	v4 map[key4]int64 // value: expiry, nanoseconds after base
	v6 map[key6]int64
	// IPv6 /64s, the usual size of a ban there, by their upper half: half
	// the memory of a key6.
	v64 map[uint64]int64
	// Prefix lengths in use, so a lookup probes only those.
	lens4 uint64
	lens6 [3]uint64
	n4    [33]int32
	n6    [129]int32
}

// key4 is an IPv4 prefix as address<<8 | bits: a uint64 key takes the
// map's fastest path.
type key4 uint64

func k4(addr uint32, bits int) key4 { return key4(uint64(addr)<<8 | uint64(bits)) }

type key6 struct {
	hi, lo uint64
	bits   uint8
}

var (
	_ Enforcer = (*Memory)(nil)
	_ Lister   = (*Memory)(nil)
)

// NewMemory returns an empty Memory. now is its clock; nil means time.Now.
func NewMemory(now func() time.Time) *Memory {
	m := &Memory{now: now, v4: make(map[key4]int64), v6: make(map[key6]int64), v64: make(map[uint64]int64)}
	if now == nil {
		m.now, m.mono = time.Now, true
	}
	m.base = m.now()
	return m
}

// elapsed reads the clock as an offset from base.
func (m *Memory) elapsed() int64 {
	if m.mono {
		return int64(time.Since(m.base))
	}
	return int64(m.now().Sub(m.base))
}

// Canonical returns p masked, or an error if an Enforcer must refuse it:
// invalid or IPv4-mapped IPv6.
func Canonical(p netip.Prefix) (netip.Prefix, error) {
	if !p.IsValid() {
		return p, fmt.Errorf("enforce: invalid prefix %v", p)
	}
	if p.Addr().Is4In6() {
		return p, fmt.Errorf("enforce: %v: use the IPv4 form", p)
	}
	return p.Masked(), nil
}

func v6halves(a netip.Addr) (hi, lo uint64) {
	b := a.As16()
	for i := 0; i < 8; i++ {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[8+i])
	}
	return hi, lo
}

func mask6(hi, lo uint64, n int) (uint64, uint64) {
	switch {
	case n == 0:
		return 0, 0
	case n < 64:
		return hi &^ (^uint64(0) >> n), 0
	case n == 64:
		return hi, 0
	case n < 128:
		return hi, lo &^ (^uint64(0) >> (n - 64))
	}
	return hi, lo
}

func v4bits(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func mask4(v uint32, n int) uint32 {
	if n == 0 {
		return 0
	}
	return v &^ (^uint32(0) >> n)
}

// Ban blocks p until until. It never fails for a valid prefix.
func (m *Memory) Ban(ctx context.Context, p netip.Prefix, until time.Time) error {
	p, err := Canonical(p)
	if err != nil {
		return err
	}
	exp := int64(until.Sub(m.base))
	n := p.Bits()
	m.mu.Lock()
	defer m.mu.Unlock()
	if p.Addr().Is4() {
		k := k4(v4bits(p.Addr()), n)
		if _, ok := m.v4[k]; !ok {
			m.n4[n]++
			m.lens4 |= 1 << n
		}
		m.v4[k] = exp
		return nil
	}
	hi, lo := v6halves(p.Addr())
	if !m.has6(hi, lo, n) {
		m.n6[n]++
		m.lens6[n/64] |= 1 << (n % 64)
	}
	if n == 64 {
		m.v64[hi] = exp
	} else {
		m.v6[key6{hi, lo, uint8(n)}] = exp
	}
	return nil
}

// Unban lifts the ban on exactly p, if any.
func (m *Memory) Unban(ctx context.Context, p netip.Prefix) error {
	p, err := Canonical(p)
	if err != nil {
		return err
	}
	n := p.Bits()
	m.mu.Lock()
	defer m.mu.Unlock()
	if p.Addr().Is4() {
		k := k4(v4bits(p.Addr()), n)
		if _, ok := m.v4[k]; ok {
			delete(m.v4, k)
			if m.n4[n]--; m.n4[n] == 0 {
				m.lens4 &^= 1 << n
			}
		}
		return nil
	}
	hi, lo := v6halves(p.Addr())
	if m.has6(hi, lo, n) {
		if n == 64 {
			delete(m.v64, hi)
		} else {
			delete(m.v6, key6{hi, lo, uint8(n)})
		}
		if m.n6[n]--; m.n6[n] == 0 {
			m.lens6[n/64] &^= 1 << (n % 64)
		}
	}
	return nil
}

// Blocked reports whether addr is inside an unexpired ban.
func (m *Memory) Blocked(addr netip.Addr) bool {
	exp, ok := m.lookup(addr)
	return ok && m.elapsed() < exp
}

// Contains reports whether addr is inside a ban, expired or not. It skips
// reading the clock, which costs as much as the lookup: for callers that lift
// bans on time themselves, as a ban.Guard does.
func (m *Memory) Contains(addr netip.Addr) bool {
	_, ok := m.lookup(addr)
	return ok
}

// BlockedAt is Blocked with the clock read by the caller.
func (m *Memory) BlockedAt(addr netip.Addr, now time.Time) bool {
	exp, ok := m.lookup(addr)
	return ok && int64(now.Sub(m.base)) < exp
}

// lookup returns the latest expiry among the bans that cover addr.
func (m *Memory) lookup(addr netip.Addr) (exp int64, found bool) {
	addr = addr.Unmap()
	m.mu.RLock()
	defer m.mu.RUnlock()
	if addr.Is4() {
		v := v4bits(addr)
		for l := m.lens4; l != 0; l &= l - 1 {
			n := bits.TrailingZeros64(l)
			if e, ok := m.v4[k4(mask4(v, n), n)]; ok && (!found || e > exp) {
				exp, found = e, true
			}
		}
		return exp, found
	}
	if !addr.Is6() {
		return 0, false
	}
	hi, lo := v6halves(addr)
	for w, l := range m.lens6 {
		for ; l != 0; l &= l - 1 {
			n := w*64 + bits.TrailingZeros64(l)
			mh, ml := mask6(hi, lo, n)
			if e, ok := m.get6(mh, ml, n); ok && (!found || e > exp) {
				exp, found = e, true
			}
		}
	}
	return exp, found
}

// get6 returns the expiry of the ban on exactly the masked prefix hi, lo /n.
func (m *Memory) get6(hi, lo uint64, n int) (int64, bool) {
	if n == 64 {
		e, ok := m.v64[hi]
		return e, ok
	}
	e, ok := m.v6[key6{hi, lo, uint8(n)}]
	return e, ok
}

func (m *Memory) has6(hi, lo uint64, n int) bool {
	_, ok := m.get6(hi, lo, n)
	return ok
}

// Len returns how many bans the Memory holds, expired ones included until
// they are lifted.
func (m *Memory) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.v4) + len(m.v6) + len(m.v64)
}

// List returns the unexpired bans.
func (m *Memory) List(ctx context.Context) ([]Ban, error) {
	now := m.elapsed()
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]Ban, 0, len(m.v4)+len(m.v6)+len(m.v64))
	for k, exp := range m.v4 {
		if exp > now {
			a := uint32(k >> 8)
			p := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}), int(k&0xff))
			out = append(out, Ban{p, m.base.Add(time.Duration(exp))})
		}
	}
	for k, exp := range m.v6 {
		if exp > now {
			var b [16]byte
			binary.BigEndian.PutUint64(b[:8], k.hi)
			binary.BigEndian.PutUint64(b[8:], k.lo)
			out = append(out, Ban{netip.PrefixFrom(netip.AddrFrom16(b), int(k.bits)), m.base.Add(time.Duration(exp))})
		}
	}
	for hi, exp := range m.v64 {
		if exp > now {
			var b [16]byte
			binary.BigEndian.PutUint64(b[:8], hi)
			out = append(out, Ban{netip.PrefixFrom(netip.AddrFrom16(b), 64), m.base.Add(time.Duration(exp))})
		}
	}
	return out, nil
}
