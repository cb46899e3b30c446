// Package memstat measures what code allocates and what it keeps, for the
// benchmarks that report memory per ban and per request.
package memstat

import "runtime"

// Use is what one call of Measure saw, in bytes.
type Use struct {
	// Allocated is everything fn allocated, freed or not.
	Allocated uint64
	// Grown is how far the heap in use grew while fn ran.
	Grown int64
	// Kept is how far the live heap grew: what fn left reachable, counted
	// after a collection.
	Kept int64
}

// Measure runs fn between collections and reports its use of memory.
func Measure(fn func()) Use {
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	fn()
	runtime.ReadMemStats(&m1)
	u := Use{Allocated: m1.TotalAlloc - m0.TotalAlloc, Grown: int64(m1.HeapInuse) - int64(m0.HeapInuse)}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	u.Kept = int64(m1.HeapAlloc) - int64(m0.HeapAlloc)
	return u
}

// MB converts bytes to mebibytes.
func MB[T uint64 | int64](n T) float64 { return float64(n) / (1 << 20) }
