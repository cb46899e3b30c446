package banredis_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/banredis"
	"github.com/sipban/sipban/detect"
	"github.com/sipban/sipban/internal/redistest"
)

// quiet is a logger for tests that expect failures.
var quiet = slog.New(slog.DiscardHandler)

func newFleet(t testing.TB, c redis.UniversalClient, edge string) *banredis.Fleet {
	t.Helper()
	f, err := banredis.New(c, banredis.Options{Edge: edge, Logger: quiet, Timeout: 500 * time.Millisecond,
		Backoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Ping: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// follower runs f.Follow until the test ends, passing on what it gets.
func follower(t testing.TB, f *banredis.Fleet) <-chan ban.Change {
	t.Helper()
	ch := make(chan ban.Change, 4096)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Follow(ctx, func(c ban.Change) { ch <- c }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Follow returned %v, want context.Canceled", err)
		}
	})
	return ch
}

// next returns the next change on ch; a follower that never delivers fails
// the test (the bound is a hang detector, not a timing assertion).
func next(t testing.TB, ch <-chan ban.Change) ban.Change {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(20 * time.Second):
		t.Fatal("no change arrived")
		return ban.Change{}
	}
}

func subject(t testing.TB, s string) detect.Subject {
	t.Helper()
	sub, err := detect.ParseSubject(s)
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

// record returns a record on sub lasting an hour from now, with
// millisecond times as Redis keeps them.
func record(t testing.TB, sub string) ban.StoredRecord {
	now := time.Now().Truncate(time.Millisecond)
	return ban.StoredRecord{
		Subject: subject(t, sub), Scope: "address", Cause: detect.BadCredentials, Level: 1,
		Since: now, Until: now.Add(time.Hour), Proven: true,
		Evidence: detect.Evidence{Count: 5, First: now.Add(-time.Minute), Last: now,
			Accounts: []string{"100"}, UserAgents: []string{"friendly-scanner"}, Statuses: []int{401},
			Detail: "5 rejected credentials for about 1 account(s)"},
	}
}

func put(r ban.StoredRecord) ban.Change { return ban.Change{Op: ban.OpRecord, Record: r} }

func lift(r ban.StoredRecord) ban.Change {
	return ban.Change{Op: ban.OpEnd, Offence: ban.Offence{Subject: r.Subject, Level: r.Level, End: r.Until, Proven: r.Proven}}
}

func share(t testing.TB, f *banredis.Fleet, cs ...ban.Change) {
	t.Helper()
	if err := f.Share(context.Background(), cs); err != nil {
		t.Fatal(err)
	}
}

// wantRecord checks that c puts r.
func wantRecord(t testing.TB, c ban.Change, r ban.StoredRecord) {
	t.Helper()
	if c.Op != ban.OpRecord || c.Record.Subject != r.Subject || !c.Record.Until.Equal(r.Until) {
		t.Fatalf("got %v on %v until %v, want record on %v until %v", c.Op, c.Record.Subject, c.Record.Until, r.Subject, r.Until)
	}
}

func server(t testing.TB) (*redistest.Server, *redis.Client) {
	t.Helper()
	s := redistest.Start(t)
	return s, s.Client()
}

func addr(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func jsonOf(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
