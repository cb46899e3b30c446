package enforcetest_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/sipban/sipban/enforce"
	"github.com/sipban/sipban/enforce/enforcetest"
	"github.com/sipban/sipban/internal/fakeclock"
)

func TestMemory(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	enforcetest.Run(t, enforcetest.Harness{
		New: func(*testing.T) enforce.Enforcer { return enforce.NewMemory(clock.Now) },
		Blocked: func(_ *testing.T, e enforce.Enforcer, a netip.Addr) bool {
			return e.(*enforce.Memory).Blocked(a)
		},
		Now:  clock.Now,
		Wait: clock.Advance,
	})
}
