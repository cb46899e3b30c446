package detect

import (
	"hash/maphash"
	"net/netip"

	"github.com/sipban/sipban/internal/shardmap"
)

// accounts counts rejected credentials per account across all addresses,
// so that guessing spread over a botnet is seen as one attack on one
// account: records keyed by the name's hash, bounded, the least recently
// failing forgotten first.
type accounts struct {
	m *shardmap.Map[acctRec]
}

// acctRec is what is kept of one account: 60 bytes.
type acctRec struct {
	first, last uint32 // ticks
	short, long window
	// The two most recent distinct failing sources, and when each last
	// failed: two sources failed within a window exactly when both of these
	// did (a hash set would mistake two for one, 1 time in 32).
	addrs   [2]key
	addrsAt [2]uint32
}

func newAccounts(capacity int) *accounts {
	return &accounts{m: shardmap.New(capacity, func(r acctRec) int64 { return int64(r.last) })}
}

// fail counts one rejected credential for the account with hash h from
// source k at tick now, weighted n, and returns the record after it.
func (a *accounts) fail(h uint64, k key, now, shortW, longW uint32, n uint8) acctRec {
	sh := a.m.Shard(h)
	sh.Lock()
	defer sh.Unlock()
	r, ok := sh.Get(h)
	if !ok {
		r.first = now
	}
	r.last = now
	r.short.add(now, shortW, n)
	r.long.add(now, longW, n)
	if r.addrs[0] != k {
		r.addrs[1], r.addrsAt[1] = r.addrs[0], r.addrsAt[0]
		r.addrs[0] = k
	}
	r.addrsAt[0] = now
	sh.Put(h, r)
	return r
}

// forget clears the short window of the account with hash h, and with
// lifted the long one too.
func (a *accounts) forget(h uint64, lifted bool) {
	sh := a.m.Shard(h)
	sh.Lock()
	defer sh.Unlock()
	r, ok := sh.Get(h)
	switch {
	case !ok:
	case lifted:
		sh.Delete(h)
	default:
		r.short, r.addrs, r.addrsAt = window{}, [2]key{}, [2]uint32{}
		sh.Put(h, r)
	}
}

func (a *accounts) len() int { return a.m.Len() }

// sources returns the failing sources r names.
func (r *acctRec) sources() []netip.Addr {
	var out []netip.Addr
	for _, k := range r.addrs {
		if k == (key{}) {
			continue
		}
		out = append(out, netip.AddrFrom16(k).Unmap())
	}
	return out
}

// spread reports whether two sources or more failed within span ticks of now.
func (r *acctRec) spread(now, span uint32) bool {
	return r.addrs[1] != (key{}) && now-r.addrsAt[1] <= span
}

// accountHash is the account table's key for name.
func accountHash(name string) uint64 { return maphash.String(seed, name) }
