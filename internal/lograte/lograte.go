// Package lograte lets a repeated failure be logged once per interval,
// with the count of those not logged: never silent, never a line per
// event.
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
	return l.due(now)
}

// Due returns how many occurrences held back are to be reported now, once
// the interval of the last line is over, so that none stays silent when
// they stop coming; 0 while it is not over, or if none is held back.
func (l *Limiter) Due(now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.due(now)
}

func (l *Limiter) due(now time.Time) int {
	if l.n == 0 || now.Before(l.next) {
		return 0
	}
	n := l.n
	l.n, l.next = 0, now.Add(l.Every)
	return n
}
