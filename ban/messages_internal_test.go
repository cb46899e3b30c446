package ban

import (
	"testing"
	"time"
)

func TestDur(t *testing.T) {
	en, de := texts{english}, texts{german}
	for _, c := range []struct {
		d      time.Duration
		en, de string
	}{
		{100 * time.Millisecond, "100 ms", "100 ms"},
		{5200 * time.Millisecond, "5.2 s", "5,2 s"},
		{5 * time.Second, "5 s", "5 s"},
		{42*time.Second + 400*time.Millisecond, "42 s", "42 s"},
		{3*time.Minute + 20*time.Second, "3 min 20 s", "3 min 20 s"},
		{10 * time.Minute, "10 min", "10 min"},
		{2*time.Hour + 5*time.Minute + 30*time.Second, "2 h 5 min", "2 h 5 min"},
		{24 * time.Hour, "1 d", "1 d"},
		{76 * time.Hour, "3 d 4 h", "3 d 4 h"},
	} {
		if got := en.dur(c.d); got != c.en {
			t.Errorf("en %v: %q, want %q", c.d, got, c.en)
		}
		if got := de.dur(c.d); got != c.de {
			t.Errorf("de %v: %q, want %q", c.d, got, c.de)
		}
	}
}
