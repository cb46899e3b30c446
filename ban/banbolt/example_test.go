package banbolt_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/banbolt"
	"github.com/sipban/sipban/detect"
)

// A ban written before a restart is loaded after it.
func Example() {
	dir, err := os.MkdirTemp("", "banbolt")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "bans.db")

	s, err := banbolt.Open(path, nil)
	if err != nil {
		panic(err)
	}
	since := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	err = s.Write(context.Background(), []ban.Change{{Op: ban.OpRecord, Record: ban.StoredRecord{
		Subject: detect.SubjectOf(netip.MustParseAddr("203.0.113.7")),
		Cause:   detect.BadCredentials, Level: 1, Since: since, Until: since.Add(time.Hour),
	}}})
	if err != nil {
		panic(err)
	}
	s.Close()

	s, err = banbolt.Open(path, nil)
	if err != nil {
		panic(err)
	}
	defer s.Close()
	err = s.Load(context.Background(), func(c ban.Change) error {
		fmt.Println(c.Op, c.Record.Subject, c.Record.Cause, "until", c.Record.Until.Format(time.RFC3339))
		return nil
	})
	if err != nil {
		panic(err)
	}
	// Output: record 203.0.113.7 bad-credentials until 2026-11-01T13:00:00Z
}
