package detect

import (
	"hash/maphash"
	"math/bits"
	"sync"
)

// seed is random per process so that no one can choose keys that collide.
var seed = maphash.MakeSeed()

func hashKey(k *key) uint64 { return maphash.Bytes(seed, k[:]) }

func hashString(s string) uint32 { return uint32(maphash.String(seed, s)) }

// table is a bounded map from source keys to records, split into shards
// that each have their own lock. Records hold no pointers, so a million of
// them cost the garbage collector nothing to scan. When a shard is full, the
// least recently seen of a few sampled records makes room.
type table struct {
	shards []shard
	mask   uint64
}

type key [16]byte

type entry struct {
	k key
	r rec
}

const (
	chunkSize  = 1024 // entries: 120 KB, whole 8 KB pages, so no size-class slack
	nameSlots  = 256
	evictTries = 4
)

type shard struct {
	mu     sync.Mutex
	index  []uint32 // 0 empty; else tag<<ibits | slot+1
	ibits  uint
	chunks [][]entry
	n      int
	cap    int
	rnd    uint64
	// names remembers the account names and User-Agents seen, by hash, so that
	// evidence can name them; a colliding name replaces the older one.
	names [nameSlots]string
}

func newTable(capacity int) *table {
	n := 1
	for n < 64 && capacity/(n*2) >= chunkSize {
		n *= 2
	}
	t := &table{shards: make([]shard, n), mask: uint64(n - 1)}
	per := (capacity + n - 1) / n
	for i := range t.shards {
		s := &t.shards[i]
		s.cap = per
		s.ibits = uint(bits.Len(uint(per)))
		s.index = make([]uint32, per+per/4+1)
		s.rnd = uint64(i)*0x9e3779b97f4a7c15 + 1
	}
	return t
}

// shard picks the shard for hash h.
func (t *table) shard(h uint64) *shard { return &t.shards[h&t.mask] }

func (s *shard) at(slot int) *entry { return &s.chunks[slot/chunkSize][slot%chunkSize] }

// home is where hash h starts probing.
func (s *shard) home(h uint64) int { return int((h >> 32) * uint64(len(s.index)) >> 32) }

func (s *shard) tag(h uint64) uint32 { return uint32(h>>8) >> s.ibits }

// find returns the record for k, or nil.
func (s *shard) find(k *key, h uint64) *rec {
	tag := s.tag(h)
	for i := s.home(h); ; {
		v := s.index[i]
		if v == 0 {
			return nil
		}
		if v>>s.ibits == tag {
			if e := s.at(int(v&(1<<s.ibits-1)) - 1); e.k == *k {
				return &e.r
			}
		}
		if i++; i == len(s.index) {
			i = 0
		}
	}
}

// get returns the record for k, adding a zero one if there is none; the
// second result reports whether it was added.
func (s *shard) get(k *key, h uint64) (*rec, bool) {
	if r := s.find(k, h); r != nil {
		return r, false
	}
	var slot int
	if s.n < s.cap {
		slot = s.n
		if slot/chunkSize == len(s.chunks) {
			s.chunks = append(s.chunks, make([]entry, min(chunkSize, s.cap-slot)))
		}
		s.n++
	} else {
		slot = s.victim()
		s.unlink(slot, hashKey(&s.at(slot).k))
	}
	e := s.at(slot)
	*e = entry{k: *k}
	i := s.home(h)
	for s.index[i] != 0 {
		if i++; i == len(s.index) {
			i = 0
		}
	}
	s.index[i] = s.tag(h)<<s.ibits | uint32(slot+1)
	return &e.r, true
}

// victim samples a few records and returns the slot of the least recently seen.
func (s *shard) victim() int {
	best, bestLast := 0, ^uint32(0)
	for range evictTries {
		s.rnd ^= s.rnd << 13
		s.rnd ^= s.rnd >> 7
		s.rnd ^= s.rnd << 17
		slot := int(s.rnd % uint64(s.n))
		if l := s.at(slot).r.last; l <= bestLast {
			best, bestLast = slot, l
		}
	}
	return best
}

// unlink removes slot's index entry, shifting later entries of the probe run
// back so that lookups never stop early at the hole.
func (s *shard) unlink(slot int, h uint64) {
	i := s.home(h)
	for s.index[i]&(1<<s.ibits-1) != uint32(slot+1) {
		if i++; i == len(s.index) {
			i = 0
		}
	}
	n := len(s.index)
	for j := i; ; {
		if j++; j == n {
			j = 0
		}
		v := s.index[j]
		if v == 0 {
			break
		}
		e := s.at(int(v&(1<<s.ibits-1)) - 1)
		home := s.home(hashKey(&e.k))
		// Move v into the hole at i unless its home lies cyclically in (i, j].
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			s.index[i] = v
			i = j
		}
	}
	s.index[i] = 0
}

// name returns the remembered string with hash h, or "".
func (s *shard) name(h uint32) string {
	n := s.names[h%nameSlots]
	if n != "" && hashString(n) == h {
		return n
	}
	return ""
}

// remember keeps str under its hash h, copying it only when it is new.
func (s *shard) remember(str string, h uint32) {
	if p := &s.names[h%nameSlots]; *p != str {
		*p = string([]byte(str))
	}
}
