package lograte

import (
	"testing"
	"time"
)

func TestNote(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	l := Limiter{Every: time.Minute}
	for _, c := range []struct {
		at   time.Duration
		want int
	}{
		{0, 1}, {time.Second, 0}, {30 * time.Second, 0}, {time.Minute, 3}, {time.Minute + time.Second, 0}, {10 * time.Minute, 2},
	} {
		if got := l.Note(t0.Add(c.at)); got != c.want {
			t.Errorf("Note at %v = %d, want %d", c.at, got, c.want)
		}
	}
}
