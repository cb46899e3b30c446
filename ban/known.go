package ban

import (
	"hash/maphash"
	"net/netip"
	"sync"
)

// known remembers the devices that logged in with proof, by a hash of
// (address or IPv6 prefix, account, User-Agent): only those pairs inherit
// the trust their logins earned. Shards of plain maps hold no pointers; the
// bound evicts the least recently proven of a few entries, so a full set
// forgets old devices and, under a guard, refuses them: it fails closed.
type known struct {
	seed   maphash.Seed
	per    int
	shards [64]knownShard
}

type knownShard struct {
	mu sync.Mutex
	m  map[uint64]int64 // Unix seconds of the last proven login
}

func newKnown(capacity int) *known {
	k := &known{seed: maphash.MakeSeed(), per: max(capacity/64, 1)}
	for i := range k.shards {
		k.shards[i].m = make(map[uint64]int64)
	}
	return k
}

// device is the key of (where, account, userAgent); where is the address
// or the IPv6 prefix sources are counted by.
func (k *known) device(where netip.Addr, account, userAgent string) uint64 {
	var h maphash.Hash
	h.SetSeed(k.seed)
	b := where.As16()
	h.Write(b[:])
	h.WriteString(account)
	h.WriteByte(0)
	h.WriteString(userAgent)
	return h.Sum64()
}

// learn notes a proven login of device d at now (Unix seconds).
func (k *known) learn(d uint64, now int64) {
	sh := &k.shards[d&63]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if last, ok := sh.m[d]; ok {
		if last != now {
			sh.m[d] = now
		}
		return
	}
	if len(sh.m) >= k.per {
		var victim uint64
		best, n := int64(1<<62), 0
		for h, t := range sh.m {
			if t < best {
				victim, best = h, t
			}
			if n++; n == 4 {
				break
			}
		}
		delete(sh.m, victim)
	}
	sh.m[d] = now
}

// has reports whether device d logged in with proof at or after since.
func (k *known) has(d uint64, since int64) bool {
	sh := &k.shards[d&63]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	t, ok := sh.m[d]
	return ok && t >= since
}
