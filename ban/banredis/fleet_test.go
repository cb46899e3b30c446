package banredis_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/banredis"
)

func TestShareFollow(t *testing.T) {
	_, c := server(t)
	a, b := newFleet(t, c, "a"), newFleet(t, c, "b")
	fromA, fromB := follower(t, a), follower(t, b)
	waitSynced(t, a, b)

	r1 := record(t, "203.0.113.7")
	share(t, a, put(r1))
	got := next(t, fromB)
	wantRecord(t, got, r1)
	if g, w := jsonOf(t, got.Record), jsonOf(t, r1); g != w {
		t.Errorf("B got %s, want %s", g, w)
	}
	// A's own record was published before B's: had A not skipped it, it
	// would come first.
	r2 := record(t, "alice@198.51.100.9")
	share(t, b, put(r2))
	wantRecord(t, next(t, fromA), r2)

	pexp, err := c.PExpireTime(context.Background(), "sipban:rec:203.0.113.7").Result()
	if err != nil || pexp != time.Duration(r1.Until.UnixMilli())*time.Millisecond {
		t.Errorf("PEXPIRETIME = %v, %v; want the record's Until, %d ms", pexp, err, r1.Until.UnixMilli())
	}

	share(t, a, lift(r1))
	if got := next(t, fromB); got.Op != ban.OpEnd || got.Offence.Subject != r1.Subject || !got.Offence.End.Equal(r1.Until) {
		t.Fatalf("B got %+v, want the lift of %v", got, r1.Subject)
	}
	if n := c.Exists(context.Background(), "sipban:rec:203.0.113.7").Val(); n != 0 {
		t.Errorf("lifted record's key still there")
	}
}

// A lift of an old record neither deletes nor ends the newer one on the
// same subject.
func TestLiftOfOldRecord(t *testing.T) {
	_, c := server(t)
	a, b := newFleet(t, c, "a"), newFleet(t, c, "b")
	fromB := follower(t, b)
	waitSynced(t, b)

	old := record(t, "203.0.113.7")
	newer := old
	newer.Level, newer.Until = 2, old.Until.Add(time.Hour)
	share(t, a, put(old), put(newer), lift(old))
	wantRecord(t, next(t, fromB), old)
	wantRecord(t, next(t, fromB), newer)
	marker := record(t, "192.0.2.1")
	share(t, a, put(marker))
	wantRecord(t, next(t, fromB), marker) // not the lift of old
	if n := c.Exists(context.Background(), "sipban:rec:203.0.113.7").Val(); n != 1 {
		t.Errorf("newer record deleted by the lift of the old one")
	}
}

func TestResync(t *testing.T) {
	_, c := server(t)
	a, b := newFleet(t, c, "a"), newFleet(t, c, "b")
	r1, r2, r3 := record(t, "203.0.113.7"), record(t, "2001:db8::/64"), record(t, "bob@*")
	share(t, a, put(r1), put(r2), put(r3), lift(r2))
	fromB, fromA := follower(t, b), follower(t, a)
	got := map[string]bool{}
	for range 2 {
		c := next(t, fromB)
		got[c.Record.Subject.String()] = c.Op == ban.OpRecord
	}
	if want := map[string]bool{"203.0.113.7": true, "bob@*": true}; !reflect.DeepEqual(got, want) {
		t.Errorf("B resynced %v, want %v", got, want)
	}
	waitSynced(t, a)
	marker := record(t, "192.0.2.1")
	share(t, b, put(marker))
	wantRecord(t, next(t, fromA), marker) // A's resync skipped its own
}

// An edge whose connection is cut gets everything again once back: after
// CLIENT KILL (data kept) and after a restart of the server (data lost).
func TestReconnect(t *testing.T) {
	s, c := server(t)
	a, b := newFleet(t, c, "a"), newFleet(t, c, "b")
	fromB := follower(t, b)
	waitSynced(t, b)
	r1 := record(t, "203.0.113.7")
	share(t, a, put(r1))
	wantRecord(t, next(t, fromB), r1)

	if err := c.ClientKillByFilter(context.Background(), "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	wantRecord(t, next(t, fromB), r1) // resynced
	waitSynced(t, b)
	if st := b.Stats(); st.Resyncs < 2 || st.Failures < 1 {
		t.Errorf("after CLIENT KILL: %+v", st)
	}

	s.Stop()
	s.Start()
	r2 := record(t, "198.51.100.1")
	// A's client reconnects by itself; until B has resubscribed, the key is
	// what carries r2 to it.
	share(t, a, put(r2))
	wantRecord(t, next(t, fromB), r2)
	waitSynced(t, b)
	r3 := record(t, "198.51.100.2")
	share(t, a, put(r3))
	for {
		got := next(t, fromB)
		if got.Record.Subject == r3.Subject {
			break
		}
		wantRecord(t, got, r2) // r2 again from the resync, if it saw the key
	}
}

func TestShareWhileDown(t *testing.T) {
	s, c := server(t)
	a := newFleet(t, c, "a")
	s.Stop()
	start := time.Now()
	if err := a.Share(context.Background(), []ban.Change{put(record(t, "203.0.113.7"))}); err == nil {
		t.Fatal("Share with Redis down succeeded")
	} else {
		t.Logf("Share with Redis down: %v after %v", err, time.Since(start))
	}
	s.Start()
	// The restarted server has no scripts loaded: Share loads them.
	share(t, a, put(record(t, "203.0.113.7")))
	if n := c.Exists(context.Background(), "sipban:rec:203.0.113.7").Val(); n != 1 {
		t.Error("record not in Redis after Share")
	}
}

func TestBadData(t *testing.T) {
	_, c := server(t)
	ctx := context.Background()
	good := record(t, "203.0.113.7")
	enc, _ := json.Marshal(good)
	ms := func(r ban.StoredRecord) string { return itoa(r.Until.UnixMilli()) }
	other := record(t, "192.0.2.1")
	otherEnc, _ := json.Marshal(other)
	c.Set(ctx, "sipban:rec:198.51.100.1", "not a hash", time.Hour)
	c.HSet(ctx, "sipban:rec:198.51.100.2", "until", ms(good), "edge", "x", "rec", "{not json")
	c.HSet(ctx, "sipban:rec:198.51.100.3", "until", ms(good), "edge", "x", "rec", `{"subject":"`+strings.Repeat("9", 100<<10)+`"}`)
	c.HSet(ctx, "sipban:rec:198.51.100.4", "until", ms(other), "edge", "x", "rec", otherEnc) // names another subject
	c.HSet(ctx, "sipban:rec:nonsense", "until", "1", "edge", "x", "rec", `{"subject":"nonsense"}`)
	c.HSet(ctx, "sipban:rec:203.0.113.7", "until", ms(good), "edge", "x", "rec", enc)

	b := newFleet(t, c, "b")
	fromB := follower(t, b)
	wantRecord(t, next(t, fromB), good)
	waitSynced(t, b)
	for _, m := range []string{"", "{", `{"edge":"x","op":"record"}`, `{"edge":"x","op":"record","record":{"subject":"invalid"}}`, `{"edge":"x","op":"weird"}`, strings.Repeat(" ", 100<<10)} {
		c.Publish(ctx, "sipban:changes", m)
	}
	marker := record(t, "192.0.2.9")
	share(t, newFleet(t, c, "a"), put(marker))
	wantRecord(t, next(t, fromB), marker)
	if st := b.Stats(); st.Skipped != 5+6 {
		t.Errorf("skipped %d, want 11 (5 keys, 6 messages)", st.Skipped)
	}
}

// waitSynced waits until each fleet's Follow is connected and resynced.
func waitSynced(t testing.TB, fs ...*banredis.Fleet) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, f := range fs {
		for st := f.Stats(); !st.Synced; st = f.Stats() {
			if time.Now().After(deadline) {
				t.Fatalf("edge %s never resynced: %+v", f.Edge(), st)
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// A connection that goes silent without closing is found by Ping and
// replaced, and what was shared meanwhile arrives by the resync.
func TestSilentConnection(t *testing.T) {
	s, c := server(t)
	p := newProxy(t, s.Addr)
	opts := s.Options()
	opts.Addr = p.Addr()
	viaProxy := redis.NewClient(opts)
	t.Cleanup(func() { viaProxy.Close() })
	a, b := newFleet(t, c, "a"), newFleet(t, viaProxy, "b")
	fromB := follower(t, b)
	waitSynced(t, b)

	p.Freeze()
	r1 := record(t, "203.0.113.7")
	share(t, a, put(r1))
	wantRecord(t, next(t, fromB), r1)
	waitSynced(t, b)
	if st := b.Stats(); st.Failures < 1 || st.Resyncs < 2 {
		t.Errorf("B got the record without reconnecting: %+v", st)
	}
}

// A prefix with glob characters resyncs its own keys only.
func TestPrefixWithGlob(t *testing.T) {
	_, c := server(t)
	fleet := func(prefix, edge string) *banredis.Fleet {
		f, err := banredis.New(c, banredis.Options{Prefix: prefix, Edge: edge, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	mine, other := record(t, "203.0.113.7"), record(t, "198.51.100.1")
	share(t, fleet("t*[1]:", "a"), put(mine))
	share(t, fleet("tx1:", "a"), put(other)) // "t*1:rec:*" unquoted would match it
	b := fleet("t*[1]:", "b")
	fromB := follower(t, b)
	wantRecord(t, next(t, fromB), mine)
	waitSynced(t, b)
	if st := b.Stats(); st.Received != 1 {
		t.Errorf("resync got %d records, want 1", st.Received)
	}
}
