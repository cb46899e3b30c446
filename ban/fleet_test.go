package ban_test

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/bantest"
	"github.com/sipban/sipban/detect"
)

// hub is a fleet in one process, keeping the contract as ban.Fleet says;
// package banredis is the real one.
type hub struct {
	mu      sync.Mutex
	records map[detect.Subject]ban.StoredRecord
	subs    map[string]chan ban.Change
}

type edge struct {
	h  *hub
	id string
}

func newHub() *hub {
	return &hub{records: map[detect.Subject]ban.StoredRecord{}, subs: map[string]chan ban.Change{}}
}

func (e edge) Share(ctx context.Context, batch []ban.Change) error {
	e.h.mu.Lock()
	defer e.h.mu.Unlock()
	for _, c := range batch {
		switch c.Op {
		case ban.OpRecord:
			e.h.records[c.Record.Subject] = c.Record
		case ban.OpEnd:
			if r, ok := e.h.records[c.Offence.Subject]; ok && r.Until.Equal(c.Offence.End) {
				delete(e.h.records, c.Offence.Subject)
			}
		}
		for id, ch := range e.h.subs {
			if id != e.id {
				ch <- c
			}
		}
	}
	return nil
}

func (e edge) Follow(ctx context.Context, fn func(ban.Change)) error {
	ch := make(chan ban.Change, 1024)
	e.h.mu.Lock()
	e.h.subs[e.id] = ch
	var now []ban.Change
	for _, r := range e.h.records {
		now = append(now, ban.Change{Op: ban.OpRecord, Record: r})
	}
	e.h.mu.Unlock()
	for _, c := range now {
		fn(c)
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case c := <-ch:
			fn(c)
		}
	}
}

// A ban made on one edge holds on the others, but never on an address
// another edge allow-lists; a lift on one edge lifts it on the others.
func TestFleet(t *testing.T) {
	c := newClock()
	h := newHub()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	guards := map[string]*ban.Guard{}
	for _, id := range []string{"a", "b", "c"} {
		opts := ban.Options{Fleet: edge{h, id}, ResyncEvery: -1}
		if id == "c" {
			opts.Policy.Allow = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}
		}
		guards[id] = newGuard(t, c, opts)
		go guards[id].Run(ctx)
	}
	wait := func(ok func() bool, msg string) {
		t.Helper()
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		defer wcancel()
		require.NoError(t, bantest.WaitUntil(wctx, ok), msg)
	}
	a, b, cc := guards["a"], guards["b"], guards["c"]
	guess := req{from: "203.0.113.5:5060", account: "100", creds: true, status: 403}
	require.NoError(t, send(t, a, c, times(5, guess)...))
	flush(t, a)
	sub := detect.SubjectOf(addr("203.0.113.5"))
	wait(func() bool { return b.Banned(addr("203.0.113.5")) }, "b never got a's ban")
	ra, _ := a.Record(sub)
	rb, ok := b.Record(sub)
	require.True(t, ok)
	assert.Equal(t, ra.Until, rb.Until)
	assert.Equal(t, ra.Evidence, rb.Evidence)
	assert.Equal(t, ra.Level, rb.Level)

	// c allow-lists the address: nothing from the fleet bans it there.
	other := req{from: "198.51.100.7:5060", account: "200", creds: true, status: 403}
	require.NoError(t, send(t, a, c, times(5, other)...))
	flush(t, a)
	wait(func() bool { return cc.Banned(addr("198.51.100.7")) }, "c never got the second ban")
	assert.False(t, cc.Banned(addr("203.0.113.5")), "an edge's allow-list holds whatever the fleet says")

	// A third edge that joins later gets what the fleet holds.
	late := newGuard(t, c, ban.Options{Fleet: edge{h, "d"}, ResyncEvery: -1})
	go late.Run(ctx)
	wait(func() bool { return late.Banned(addr("203.0.113.5")) && late.Banned(addr("198.51.100.7")) }, "the late edge never resynced")

	// A lift on b lifts it everywhere.
	require.NoError(t, b.Lift(ctx, sub))
	flush(t, b)
	wait(func() bool { return !a.Banned(addr("203.0.113.5")) && !late.Banned(addr("203.0.113.5")) }, "the lift never reached the others")
	assert.True(t, a.Banned(addr("198.51.100.7")))

	// A lift of another record on the subject (another Until) leaves a's
	// own stand. Changes come in order: once z's record is in, the lift
	// before it was judged.
	other2 := detect.SubjectOf(addr("198.51.100.7"))
	r, _ := a.Record(other2)
	z := edge{h, "z"}
	zsub := detect.SubjectOf(addr("192.0.2.99"))
	require.NoError(t, z.Share(ctx, []ban.Change{
		{Op: ban.OpEnd, Offence: ban.Offence{Subject: other2, End: r.Until.Add(time.Second)}},
		{Op: ban.OpRecord, Record: ban.StoredRecord{Subject: zsub, Scope: ban.ScopeAddress, Cause: detect.Scanner, Since: c.Now(), Until: c.Now().Add(time.Hour)}},
	}))
	wait(func() bool { return a.Banned(addr("192.0.2.99")) }, "z's record never came")
	assert.True(t, a.Banned(addr("198.51.100.7")), "a lift of another record lifted this one")
}

// hungFleet is a fleet whose Share does not return until released: a Redis
// that stopped answering.
type hungFleet struct{ release chan struct{} }

func (s hungFleet) Share(ctx context.Context, _ []ban.Change) error {
	<-s.release
	return errors.New("redis: i/o timeout")
}
func (s hungFleet) Follow(ctx context.Context, _ func(ban.Change)) error {
	<-ctx.Done()
	return ctx.Err()
}

// A fleet that hangs never holds up judging an event: the ban holds here at
// once, and sharing it waits, retried, until the fleet answers.
func TestFleetStuck(t *testing.T) {
	c := newClock()
	s := hungFleet{release: make(chan struct{})}
	g := newGuard(t, c, ban.Options{Fleet: s})
	done := make(chan error, 1)
	go func() {
		done <- send(t, g, c, times(5, req{from: "203.0.113.5:5060", account: "100", creds: true, status: 403})...)
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Observe waited for the fleet")
	}
	assert.True(t, g.Banned(addr("203.0.113.5")))
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	assert.Error(t, g.Flush(short), "the share is still pending")
	close(s.release)
}
