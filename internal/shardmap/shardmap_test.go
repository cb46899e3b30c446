package shardmap

import "testing"

var golden uint64 = 0x9e3779b97f4a7c15 // spreads consecutive keys over the shards

func TestBounded(t *testing.T) {
	m := New(640, func(v int64) int64 { return v })
	for i := range int64(100_000) {
		sh := m.Shard(uint64(i) * golden)
		sh.Lock()
		sh.Put(uint64(i)*golden, i)
		sh.Unlock()
	}
	if n := m.Len(); n > 640 || n < 600 {
		t.Fatalf("holds %d entries, want about 640", n)
	}
	// The newest survive: eviction takes the oldest of those sampled.
	h := 99_999 * golden
	sh := m.Shard(h)
	sh.Lock()
	v, ok := sh.Get(h)
	sh.Unlock()
	if !ok || v != 99_999 {
		t.Fatalf("newest entry: %v %v", v, ok)
	}
}

func TestUpdateDoesNotEvict(t *testing.T) {
	m := New(64, func(v int64) int64 { return v })
	sh := m.Shard(0)
	sh.Lock()
	defer sh.Unlock()
	sh.Put(0, 1)
	sh.Put(0, 2) // the shard is full at one entry; h is not new
	if v, ok := sh.Get(0); !ok || v != 2 {
		t.Fatalf("got %v %v", v, ok)
	}
	sh.Delete(0)
	if _, ok := sh.Get(0); ok {
		t.Fatal("deleted entry still there")
	}
}
