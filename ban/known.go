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
type known struct {
	seed maphash.Seed
	m    *shardmap.Map[int64] // Unix seconds of the last proven login
}

func newKnown(capacity int) *known {
	return &known{seed: maphash.MakeSeed(), m: shardmap.New(capacity, func(t int64) int64 { return t })}
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
	sh := k.m.Shard(d)
	sh.Lock()
	defer sh.Unlock()
	if last, ok := sh.Get(d); !ok || last != now {
		sh.Put(d, now)
	}
}

// has reports whether device d logged in with proof at or after since.
func (k *known) has(d uint64, since int64) bool {
	sh := k.m.Shard(d)
	sh.Lock()
	defer sh.Unlock()
	t, ok := sh.Get(d)
	return ok && t >= since
}
