package ban

import (
	"hash/maphash"
	"net/netip"

	"github.com/sipban/sipban/internal/shardmap"
)

// known remembers the devices that logged in with proof, by a hash of
// (address or IPv6 prefix, account, User-Agent): only those pairs inherit
// the trust their logins earned. The bound forgets the least recently
// proven first, so a full set forgets old devices and, under a guard,
// refuses them: it fails closed.
//
// at keeps, per address, the last proven login there noted for a Store: a
// stranger's evidence without proof at such an address guards it rather
// than banning it, as a forged source could have sent it. A forgotten
// address is banned as before: that fails closed too.
type known struct {
	seed maphash.Seed
	m    *shardmap.Map[login]
	at   *shardmap.Map[int64]
}

// login is when a device last logged in with proof, and when that was
// last handed to the Store (Unix seconds).
type login struct{ last, stored int64 }

func newKnown(capacity int) *known {
	return &known{
		seed: maphash.MakeSeed(),
		m:    shardmap.New(capacity, func(l login) int64 { return l.last }),
		at:   shardmap.New(capacity, func(last int64) int64 { return last }),
	}
}

// device is the key of (where, account, userAgent); where is the address
// or the IPv6 prefix sources are counted by. The names are clipped as a
// Store keeps them, so that a restored device has the key it had.
func (k *known) device(where netip.Addr, account, userAgent string) uint64 {
	return maphash.Comparable(k.seed, knownKey{where.As16(), clip(account, maxName), clip(userAgent, maxAgent)})
}

type knownKey struct {
	where          [16]byte
	account, agent string
}

// learn notes a proven login of device d at where at now (Unix seconds).
// It reports whether the device is new, or its last login noted more than
// every seconds ago: whether a Store should hear of it. Only those update
// where's last login, so that most logins take one lock.
func (k *known) learn(where netip.Addr, d uint64, now, every int64) bool {
	sh := k.m.Shard(d)
	sh.Lock()
	l, ok := sh.Get(d)
	if ok && l.last >= now {
		sh.Unlock()
		return false
	}
	store := !ok || now-l.stored >= every
	l.last = now
	if store {
		l.stored = now
	}
	sh.Put(d, l)
	sh.Unlock()
	if store {
		k.noteAt(where, now)
	}
	return store
}

// noteAt notes a proven login at where at last, unless a later one is noted.
func (k *known) noteAt(where netip.Addr, last int64) {
	h := k.addr(where)
	sh := k.at.Shard(h)
	sh.Lock()
	defer sh.Unlock()
	if l, ok := sh.Get(h); !ok || l < last {
		sh.Put(h, last)
	}
}

// seenAt reports whether a device logged in with proof at where at or
// after since, as noted at most every seconds (learn) before it.
func (k *known) seenAt(where netip.Addr, since int64) bool {
	h := k.addr(where)
	sh := k.at.Shard(h)
	sh.Lock()
	defer sh.Unlock()
	l, ok := sh.Get(h)
	return ok && l >= since
}

func (k *known) addr(where netip.Addr) uint64 { return addrHash(k.seed, where) }

// has reports whether device d logged in with proof at or after since.
func (k *known) has(d uint64, since int64) bool {
	sh := k.m.Shard(d)
	sh.Lock()
	defer sh.Unlock()
	l, ok := sh.Get(d)
	return ok && l.last >= since
}

// restore notes a login of device d at where a Store kept, at last (Unix
// seconds).
func (k *known) restore(where netip.Addr, d uint64, last int64) {
	sh := k.m.Shard(d)
	sh.Lock()
	if l, ok := sh.Get(d); !ok || l.last < last {
		sh.Put(d, login{last: last, stored: last})
	}
	sh.Unlock()
	k.noteAt(where, last)
}
