package banredis

import (
	"log/slog"
	"sync"
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
