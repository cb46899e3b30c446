// Package lograte lets a repeated failure be logged once per interval,
// with the count of those not logged: never silent, never a line per
// event. (ban keeps a copy of its own, with a way to report what is held
// back; it can move here.)
package lograte

import (
	"sync"
	"time"
)

// Limiter passes one line per Every. The zero value passes every line. It
// is safe for concurrent use.
type Limiter struct {
	Every time.Duration

	mu   sync.Mutex
	next time.Time
	n    int
}

// Note counts one occurrence at now and returns how many to report now
// (this one and those held back), or 0 to stay quiet.
func (l *Limiter) Note(now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	if now.Before(l.next) {
		return 0
	}
	n := l.n
	l.n, l.next = 0, now.Add(l.Every)
	return n
}
