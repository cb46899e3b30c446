package detect

import (
	"testing"
	"unsafe"
)

// A chunk of whole runtime pages wastes nothing to size-class rounding, and a
// record over 104 bytes would break the 128-bytes-per-source budget.
func TestEntryLayout(t *testing.T) {
	if s := unsafe.Sizeof(entry{}); s != 120 {
		t.Errorf("entry is %d bytes, want 120", s)
	}
	if n := unsafe.Sizeof(entry{}) * chunkSize; n%8192 != 0 {
		t.Errorf("a chunk is %d bytes, not whole 8 KB pages", n)
	}
}

func TestTableEviction(t *testing.T) {
	tb := newTable(3000)
	sh := &tb.shards[0]
	var keys []key
	for i := range 5000 {
		var k key
		k[0], k[1] = byte(i), byte(i>>8)
		h := hashKey(&k)
		if tb.shard(h) != sh {
			continue
		}
		r, added := sh.get(&k, h)
		if !added {
			t.Fatalf("key %d found before it was added", i)
		}
		r.last = uint32(i)
		keys = append(keys, k)
	}
	if sh.n > sh.cap {
		t.Fatalf("%d records in a shard of %d", sh.n, sh.cap)
	}
	// Every record still indexed is found under its own key, and the newest
	// survived eviction.
	found := 0
	for _, k := range keys {
		if r := sh.find(&k, hashKey(&k)); r != nil {
			found++
		}
	}
	if found != sh.n {
		t.Fatalf("found %d of %d records", found, sh.n)
	}
	last := keys[len(keys)-1]
	if sh.find(&last, hashKey(&last)) == nil {
		t.Fatal("the newest record was evicted")
	}
}
