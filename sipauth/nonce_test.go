// The race detector makes sync.Pool drop items at random, so allocations
// are counted without it.

//go:build !race

package sipauth

import (
	"net/netip"
	"testing"
	"time"
)

// TestNonceAllocs holds the nonce check to no allocation: it runs for every
// request with credentials, forged ones included.
func TestNonceAllocs(t *testing.T) {
	a, err := New(Options{Realm: "example.com"})
	if err != nil {
		t.Fatal(err)
	}
	src, now := netip.MustParseAddr("192.0.2.10"), time.Now()
	nonce := a.issue(now, src)
	if !a.fresh(nonce, src, now) {
		t.Fatal("own nonce not fresh")
	}
	if n := testing.AllocsPerRun(100, func() { a.fresh(nonce, src, now) }); n != 0 {
		t.Errorf("fresh: %v allocs, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { a.issue(now, src) }); n != 1 {
		t.Errorf("issue: %v allocs, want 1 (the string)", n)
	}
}
