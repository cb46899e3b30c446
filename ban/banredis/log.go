package banredis

import (
	"log/slog"
	"sync"
	"time"
)

// streak logs a run of failures once, when it starts, and once more when
// it ends: a Redis that is down for an hour is two log lines, not one per
// retry.
type streak struct {
	log  *slog.Logger
	what string

	mu     sync.Mutex
	failed int // failures in the current streak; 0 when healthy
}

// fail notes a failure, logging it if it starts a streak.
func (s *streak) fail(err error) {
	s.mu.Lock()
	s.failed++
	first := s.failed == 1
	s.mu.Unlock()
	if first {
		s.log.Error("sipban: redis "+s.what+" failed; retrying quietly until it works", "error", err)
	}
}

// ok ends a streak, logging how long it was.
func (s *streak) ok() {
	s.mu.Lock()
	n := s.failed
	s.failed = 0
	s.mu.Unlock()
	if n > 0 {
		s.log.Info("sipban: redis "+s.what+" works again", "failures", n)
	}
}

// sometimes lets a line about bad data through at most once per every,
// with the count of those held back: bad data at a high rate must not
// turn into a log flood.
type sometimes struct {
	every time.Duration

	mu   sync.Mutex
	last time.Time
	held int
}

// note counts one occurrence at now and returns how many to report in a
// line now (this one and those held back), or 0 to stay silent.
func (s *sometimes) note(now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held++
	if !s.last.IsZero() && now.Sub(s.last) < s.every {
		return 0
	}
	n := s.held
	s.last, s.held = now, 0
	return n
}
