// Package shardmap is a bounded map from 64-bit hashes to small values, in
// shards with locks of their own. Values should hold no pointers, so that a
// million of them cost the garbage collector nothing to scan. A full shard
// makes room by forgetting the oldest of a few entries, which callers that
// fail closed rely on: what is forgotten is treated as never seen.
package shardmap

import "sync"

const (
	shards = 64
	tries  = 4 // entries sampled for the oldest when a shard is full
)

// Map is a bounded map; construct one with New. It is safe for concurrent
// use through its shards' locks.
type Map[V any] struct {
	per    int
	age    func(V) int64
	shards [shards]Shard[V]
}

// Shard is one lock's part of a Map. Hold its lock around Get, Put and
// Delete.
type Shard[V any] struct {
	sync.Mutex
	m   map[uint64]V
	per int
	age func(V) int64
}

// New returns a Map holding about capacity entries; age orders them for
// eviction, smaller meaning older.
func New[V any](capacity int, age func(V) int64) *Map[V] {
	m := &Map[V]{per: max(capacity/shards, 1), age: age}
	for i := range m.shards {
		m.shards[i] = Shard[V]{m: make(map[uint64]V), per: m.per, age: age}
	}
	return m
}

// Shard returns the shard that holds h.
func (m *Map[V]) Shard(h uint64) *Shard[V] { return &m.shards[h%shards] }

// Len returns how many entries the Map holds.
func (m *Map[V]) Len() int {
	n := 0
	for i := range m.shards {
		sh := &m.shards[i]
		sh.Lock()
		n += len(sh.m)
		sh.Unlock()
	}
	return n
}

// Get returns the value for h.
func (s *Shard[V]) Get(h uint64) (V, bool) {
	v, ok := s.m[h]
	return v, ok
}

// Put stores v for h, first forgetting the oldest of a few entries if h is
// new and the shard is full. Go's map iteration starts at a random place.
func (s *Shard[V]) Put(h uint64, v V) {
	if _, ok := s.m[h]; !ok && len(s.m) >= s.per {
		var victim uint64
		best, n := int64(1<<62), 0
		for k, w := range s.m {
			if a := s.age(w); a <= best {
				victim, best = k, a
			}
			if n++; n == tries {
				break
			}
		}
		delete(s.m, victim)
	}
	s.m[h] = v
}

// Delete forgets h.
func (s *Shard[V]) Delete(h uint64) { delete(s.m, h) }
