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

// Due reports what Note held back once the interval is over, and only then.
func TestDue(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	l := Limiter{Every: time.Minute}
	if got := l.Due(t0); got != 0 {
		t.Errorf("Due with nothing noted = %d", got)
	}
	l.Note(t0)
	l.Note(t0.Add(time.Second))
	l.Note(t0.Add(2 * time.Second))
	if got := l.Due(t0.Add(30 * time.Second)); got != 0 {
		t.Errorf("Due within the interval = %d, want 0", got)
	}
	if got := l.Due(t0.Add(time.Minute)); got != 2 {
		t.Errorf("Due after the interval = %d, want the 2 held back", got)
	}
	if got := l.Due(t0.Add(3 * time.Minute)); got != 0 {
		t.Errorf("Due again = %d, want 0", got)
	}
}
