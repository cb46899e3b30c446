package storetest_test

import (
	"testing"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/storetest"
)

func TestMemory(t *testing.T) {
	storetest.Run(t, func(*testing.T) func() (ban.Store, error) {
		m := storetest.NewMemory()
		return func() (ban.Store, error) { return m.Reopen(), nil }
	})
}
