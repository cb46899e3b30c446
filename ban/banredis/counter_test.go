package banredis_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sipban/sipban/ban/banredis"
	"github.com/sipban/sipban/detect"
	"github.com/sipban/sipban/internal/fakeclock"
)

// edge is one SIP edge's detectors: its own standard detector and a
// Counter on the fleet's Redis.
type edge struct {
	std *detect.Standard
	cnt *banredis.Counter
}

func newEdges(t testing.TB, c redis.UniversalClient, clock *fakeclock.Clock, n int) []edge {
	t.Helper()
	var es []edge
	for range n {
		std, err := detect.NewStandard(detect.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		cnt, err := banredis.NewCounter(c, banredis.CounterOptions{Logger: quiet, Now: clock.Now, Timeout: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, edge{std, cnt})
	}
	return es
}

// guess is a proven rejected REGISTER from src for account at t.
func guess(src, account string, t time.Time) *detect.Event {
	return &detect.Event{Time: t, Source: addr(src), Transport: "tcp", Method: "REGISTER", Status: 403,
		Account: account, Credentials: true, Proven: true, UserAgent: "Linphone/5.2"}
}

// observe runs ev through e's detectors, then flushes e's Counter, as Run
// would within Interval.
func (e edge) observe(t testing.TB, ev *detect.Event) (local, fleet []detect.Finding) {
	t.Helper()
	local = e.std.Observe(ev, nil)
	fleet = e.cnt.Observe(ev, nil)
	if err := e.cnt.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	return local, fleet
}

// A guesser spreading 2 guesses per edge over 3 edges is found by the
// fleet's count, never by an edge's own.
func TestCounterAddressAcrossEdges(t *testing.T) {
	_, c := server(t)
	clock := fakeclock.New(time.Now())
	es := newEdges(t, c, clock, 3)
	var found []detect.Finding
	n := 0
	for _, e := range es {
		for range 2 {
			n++
			ev := guess("203.0.113.7:5060", fmt.Sprint(100+n), clock.Now())
			local, fleet := e.observe(t, ev)
			if len(local) > 0 {
				t.Fatalf("guess %d found by an edge's own count: %+v", n, local)
			}
			found = append(found, fleet...)
			clock.Advance(time.Second)
		}
	}
	if len(found) != 1 {
		t.Fatalf("fleet findings %+v, want 1", found)
	}
	f := found[0]
	if f.Cause != detect.BadCredentials || f.Subject.String() != "203.0.113.7" || !f.Proven || f.Guard || f.Evidence.Count != 6 {
		t.Errorf("finding %+v, want a proven ban of 203.0.113.7 counting 6", f)
	}
}

// An account guessed from 3 addresses, 2 guesses each at 3 edges, is
// guarded everywhere.
func TestCounterAccountAcrossEdges(t *testing.T) {
	_, c := server(t)
	clock := fakeclock.New(time.Now())
	es := newEdges(t, c, clock, 3)
	var found []detect.Finding
	for i, e := range es {
		for range 2 {
			local, fleet := e.observe(t, guess(fmt.Sprintf("198.51.100.%d:5060", i+1), "alice", clock.Now()))
			if len(local) > 0 {
				t.Fatalf("found by an edge's own count: %+v", local)
			}
			found = append(found, fleet...)
			clock.Advance(time.Second)
		}
	}
	if len(found) != 1 {
		t.Fatalf("fleet findings %+v, want 1", found)
	}
	f := found[0]
	if f.Subject != (detect.Subject{Account: "alice"}) || !f.Guard || !f.Proven || f.Evidence.Count != 6 || len(f.Evidence.Addresses) < 2 {
		t.Errorf("finding %+v, want a proven guard of alice@* counting 6 from 2 addresses or more", f)
	}
}

// Unproven events never count: a forged UDP source adds nothing.
func TestCounterUnproven(t *testing.T) {
	_, c := server(t)
	clock := fakeclock.New(time.Now())
	es := newEdges(t, c, clock, 3)
	for i := range 30 {
		ev := guess("203.0.113.7:5060", "alice", clock.Now())
		ev.Proven, ev.Transport = false, "udp"
		if _, fleet := es[i%3].observe(t, ev); len(fleet) > 0 {
			t.Fatalf("unproven guess %d found: %+v", i, fleet)
		}
	}
	if keys := c.Keys(context.Background(), "sipban:fail:*").Val(); len(keys) > 0 {
		t.Errorf("unproven guesses counted in Redis: %v", keys)
	}
}

// A proven login at an address makes a fleet finding there a guard.
func TestCounterTrustedAddress(t *testing.T) {
	_, c := server(t)
	clock := fakeclock.New(time.Now())
	es := newEdges(t, c, clock, 2)
	login := guess("203.0.113.7:5060", "100", clock.Now())
	login.Status = 200
	es[1].cnt.Observe(login, nil)
	var found []detect.Finding
	for i := range 6 {
		_, fleet := es[i/3].observe(t, guess("203.0.113.7:5070", "200", clock.Now()))
		found = append(found, fleet...)
	}
	if len(found) == 0 {
		t.Fatal("no finding")
	}
	for _, f := range found {
		if !f.Guard || !f.Trusted || f.Subject.String() != "203.0.113.7" {
			t.Errorf("finding %+v, want a guard of 203.0.113.7", f)
		}
	}
}

// After Forget (a ban made), counting starts afresh fleet-wide.
func TestCounterForget(t *testing.T) {
	_, c := server(t)
	clock := fakeclock.New(time.Now())
	es := newEdges(t, c, clock, 2)
	for range 3 {
		es[0].observe(t, guess("203.0.113.7:5060", "100", clock.Now()))
	}
	es[1].cnt.Forget(detect.Subject{Prefix: detect.SubjectOf(addr("203.0.113.7:1").Addr()).Prefix}, false)
	if err := es[1].cnt.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if _, fleet := es[i%2].observe(t, guess("203.0.113.7:5060", "100", clock.Now())); len(fleet) > 0 {
			t.Fatalf("guess %d after Forget found: %+v", i, fleet)
		}
	}
}

// With Redis down Observe goes on without waiting; the counts wait and
// reach the fleet once it is back.
func TestCounterRedisDown(t *testing.T) {
	s, c := server(t)
	clock := fakeclock.New(time.Now())
	es := newEdges(t, c, clock, 2)
	s.Stop()
	start := time.Now()
	for range 1000 {
		es[0].cnt.Observe(guess("203.0.113.7:5060", "100", clock.Now()), nil)
	}
	t.Logf("1000 Observe with Redis down: %v", time.Since(start))
	if err := es[0].cnt.Flush(context.Background()); err == nil {
		t.Fatal("Flush with Redis down succeeded")
	}
	s.Start()
	if err := es[0].cnt.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, fleet := es[1].observe(t, guess("203.0.113.7:5060", "100", clock.Now())); len(fleet) != 0 {
		t.Fatalf("first event at edge 1 found before its cache was filled: %+v", fleet)
	}
	_, fleet := es[1].observe(t, guess("203.0.113.7:5060", "100", clock.Now()))
	if len(fleet) != 1 || fleet[0].Evidence.Count != 1002 {
		t.Fatalf("after Redis came back: %+v, want a finding counting 1002", fleet)
	}
}

// Run sends what Observe counted without being asked.
func TestCounterRun(t *testing.T) {
	_, c := server(t)
	clock := fakeclock.New(time.Now())
	e := newEdges(t, c, clock, 1)[0]
	stop := run(t, e.cnt)
	for range 3 {
		e.cnt.Observe(guess("203.0.113.7:5060", "100", clock.Now()), nil)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		keys := c.Keys(context.Background(), "sipban:fail:addr:*").Val()
		if len(keys) == 1 && c.Get(context.Background(), keys[0]).Val() == "3" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Run never sent the counts: keys %v", keys)
		}
		time.Sleep(time.Millisecond)
	}
	stop()
}

// Events observed from many goroutines while Run sends are all counted
// in Redis, none twice.
func TestCounterConcurrent(t *testing.T) {
	_, c := server(t)
	clock := fakeclock.New(time.Now())
	e := newEdges(t, c, clock, 1)[0]
	stop := run(t, e.cnt)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 500 {
				e.cnt.Observe(guess(fmt.Sprintf("198.51.%d.%d:5060", g, i%50), fmt.Sprint(i%7), clock.Now()), nil)
			}
		})
	}
	wg.Wait()
	stop()
	if err := e.cnt.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	sum := func(pattern string) (n int) {
		for _, k := range c.Keys(context.Background(), pattern).Val() {
			v, _ := c.Get(context.Background(), k).Int()
			n += v
		}
		return n
	}
	if a, b := sum("sipban:fail:addr:*"), sum("sipban:fail:acct:*"); a != 2000 || b != 2000 {
		t.Errorf("Redis counted %d by address and %d by account, want 2000 each", a, b)
	}
}

// IPv6 sources are counted by their /64, as the standard detector does:
// an attacker rotating addresses inside it is one subject fleet-wide.
func TestCounterIPv6Prefix(t *testing.T) {
	_, c := server(t)
	clock := fakeclock.New(time.Now())
	es := newEdges(t, c, clock, 2)
	var found []detect.Finding
	for i := range 6 {
		_, fleet := es[i%2].observe(t, guess(fmt.Sprintf("[2001:db8:1:2::%x]:5060", i+1), fmt.Sprint(100+i), clock.Now()))
		found = append(found, fleet...)
	}
	if len(found) == 0 {
		t.Fatal("no finding")
	}
	if got := found[0].Subject.String(); got != "2001:db8:1:2::/64" {
		t.Errorf("finding on %s, want 2001:db8:1:2::/64", got)
	}
}

// run runs cnt.Run until stop, which checks how it ended.
func run(t testing.TB, cnt *banredis.Counter) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cnt.Run(ctx) }()
	return func() {
		t.Helper()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	}
}
