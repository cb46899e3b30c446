package banbolt_test

import (
	"path/filepath"
	"testing"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/banbolt"
	"github.com/sipban/sipban/ban/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) func() (ban.Store, error) {
		path := filepath.Join(t.TempDir(), "bans.db")
		return func() (ban.Store, error) { return banbolt.Open(path, nil) }
	})
}
