package detect

import (
	"hash/maphash"
	"net/netip"
	"sync"
)

// accounts counts rejected credentials per account across all addresses,
// so that guessing spread over a botnet is seen as one attack on one
// account. Shards of plain maps keyed by the name's hash: no pointers for
// the collector to scan, and a bound that evicts the least recently failing
// of a few entries.
type accounts struct {
	shards [64]acctShard
	per    int
}

type acctShard struct {
	mu sync.Mutex
	m  map[uint64]acctRec
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
	a := &accounts{per: max(capacity/64, 1)}
	for i := range a.shards {
		a.shards[i].m = make(map[uint64]acctRec)
	}
	return a
}

// fail counts one rejected credential for the account with hash h from
// source k at tick now, weighted n, and returns the record after it.
func (a *accounts) fail(h uint64, k key, now, shortW, longW uint32, n uint8) acctRec {
	sh := &a.shards[h&63]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r, ok := sh.m[h]
	if !ok {
		if len(sh.m) >= a.per {
			sh.evict()
		}
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
	sh.m[h] = r
	return r
}

// evict drops the least recently failing of a few entries; Go's map
// iteration starts at a random place.
func (sh *acctShard) evict() {
	var victim uint64
	best, n := ^uint32(0), 0
	for h, r := range sh.m {
		if r.last <= best {
			victim, best = h, r.last
		}
		if n++; n == evictTries {
			break
		}
	}
	delete(sh.m, victim)
}

// forget clears the short window of the account with hash h, and with
// lifted the long one too.
func (a *accounts) forget(h uint64, lifted bool) {
	sh := &a.shards[h&63]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r, ok := sh.m[h]
	if !ok {
		return
	}
	if lifted {
		delete(sh.m, h)
		return
	}
	r.short, r.addrs, r.addrsAt = window{}, [2]key{}, [2]uint32{}
	sh.m[h] = r
}

func (a *accounts) len() int {
	n := 0
	for i := range a.shards {
		sh := &a.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

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
