package ban_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/detect"
	"github.com/sipban/sipban/enforce"
)

// fuzzSources collide on purpose: four IPv4 addresses (the last allow-listed)
// and six /64s of one /48, so that aggregation, guards and blocks meet.
var fuzzSources = func() []netip.Addr {
	var out []netip.Addr
	for i := 1; i <= 4; i++ {
		out = append(out, netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}))
	}
	for i := 1; i <= 6; i++ {
		out = append(out, netip.MustParseAddr(fmt.Sprintf("2001:db8:7:%d::1", i)))
	}
	return out
}()

// FuzzGuard drives a Guard with sequences of events, operators' and
// customers' lifts (with their probations) and clock steps,
// each op four bytes, and checks after every op that memory and records
// agree: an address is dropped exactly when an active address ban covers it
// and it is not allow-listed; every record has a valid subject and scope;
// the counts agree; a kernel enforcer holds what memory holds.
func FuzzGuard(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0xff, 0, 0, 0, 0xff, 0, 0, 0, 0xff, 0, 0, 0, 0xff, 0, 0, 0, 0xff})
	f.Add([]byte{0, 4, 1, 0x0f, 0, 5, 2, 0x0f, 0, 6, 3, 0x0f, 0, 7, 4, 0x0f, 0, 8, 5, 0x0f, 2, 0, 0, 61})
	f.Add([]byte{0, 0, 0, 0x07, 0, 0, 1, 0x0d, 0, 0, 2, 0x0d, 0, 0, 3, 0x0d, 2, 0, 0, 122, 0, 0, 4, 0x0d, 1, 0, 0, 0, 3, 0, 0, 0})
	// A ban that ends, not yet expired, then a guard on the same address.
	f.Add([]byte{
		0x20, 0, 1, 0x19, 0x20, 0, 1, 0x19, 0x20, 0, 1, 0x19, 0x20, 0, 1, 0x19, 0x20, 0, 1, 0x19,
		2, 0, 0, 123, 0x00, 0, 0, 0x19,
		0x20, 0, 2, 0x19, 0x20, 0, 2, 0x19, 0x20, 0, 3, 0x19, 0x20, 0, 3, 0x19, 0x20, 0, 4, 0x19, 0x20, 0, 4, 0x19,
	})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 4*400 {
			return
		}
		now := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
		clock := func() time.Time { return now }
		kernel := enforce.NewMemory(clock)
		g, err := ban.New(ban.Options{Now: clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Enforcers: []enforce.Enforcer{kernel},
			Policy:    ban.Policy{Allow: []netip.Prefix{netip.PrefixFrom(fuzzSources[3], 32)}, MaxBans: 6}})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		for i := 0; i+4 <= len(ops); i += 4 {
			op, src, acct, fl := ops[i], fuzzSources[int(ops[i+1])%len(fuzzSources)], fmt.Sprint("a", ops[i+2]%6), ops[i+3]
			switch op % 4 {
			case 0, 1: // an event
				now = now.Add(time.Duration(fl%8) * time.Second)
				ev := detect.Event{Source: netip.AddrPortFrom(src, 5060+uint16(fl>>6)), Transport: "udp",
					Method: []string{"REGISTER", "INVITE", "OPTIONS"}[int(op>>2)%3], Account: acct,
					Credentials: fl&8 != 0, Proven: fl&16 != 0, UserAgent: []string{"phone", "friendly-scanner", "soft"}[int(fl>>5)%3],
					Status: []int{200, 401, 403, 404, 488, 0}[int(op>>4)%6]}
				if g.Admit(src, acct, ev.UserAgent) == ban.Guarded {
					ev.Status, ev.Guarded = 403, true
				}
				_ = g.Observe(ctx, &ev) // errors are ErrTooManyBans at the bound here; the invariants below judge the state
			case 2: // time passes, and Run's expiry, or not yet
				now = now.Add(time.Duration(fl>>1) * time.Minute)
				if fl&1 == 0 {
					expire(t, g, now)
				}
			case 3: // an operator lifts a record, or a customer tries to
				if bs := g.Bans(); len(bs) > 0 {
					rec := bs[int(fl>>1)%len(bs)]
					sub := rec.Subject
					if fl&1 == 0 {
						if err := g.Lift(ctx, sub); err != nil {
							t.Fatal(err)
						}
						break
					}
					if _, ok := g.Explain(sub, "de"); !ok {
						t.Fatalf("%v listed but not explained", sub)
					}
					err := g.LiftAs(ctx, sub, ban.LiftRequest{By: fmt.Sprint("customer", fl%3), Fixed: rec.Fixes()[int(fl)%len(rec.Fixes())]})
					if err != nil && !errors.Is(err, ban.ErrAttack) && !errors.Is(err, ban.ErrLiftLimit) {
						t.Fatal(err)
					}
				}
			}
			check(t, g, kernel, now, false)
		}
		expire(t, g, now)
		check(t, g, kernel, now, true)
	})
}

func expire(t *testing.T, g *ban.Guard, now time.Time) {
	t.Helper()
	if _, err := g.Expire(context.Background(), now); err != nil {
		t.Fatal(err)
	}
}

// check holds the invariants; exact, right after Expire, also asks that
// nothing but an active address ban drops an address (between a ban's end
// and the next Expire the memory still holds it, as documented).
func check(t *testing.T, g *ban.Guard, kernel *enforce.Memory, now time.Time, exact bool) {
	t.Helper()
	bans := g.Bans()
	if st := g.Stats(); st.Records < len(bans) {
		t.Fatalf("Stats counts %d records, Bans lists %d", st.Records, len(bans))
	}
	for _, r := range bans {
		if !r.Subject.IsValid() || !now.Before(r.Until) {
			t.Fatalf("record %+v: invalid subject or ended", r.Subject)
		}
		switch r.Scope {
		case ban.ScopeAddress:
			if r.Subject.Account != "" || !r.Subject.Prefix.IsValid() {
				t.Fatalf("address ban on %v", r.Subject)
			}
		case ban.ScopeAccount:
			if r.Subject.Account == "" || !r.Subject.Prefix.IsValid() {
				t.Fatalf("account block on %v", r.Subject)
			}
		case ban.ScopeGuard:
			if r.Subject.Account != "" && r.Subject.Prefix.IsValid() {
				t.Fatalf("guard on %v", r.Subject)
			}
		default:
			t.Fatalf("scope %q", r.Scope)
		}
	}
	for i, a := range fuzzSources {
		covered := false
		for _, r := range bans {
			if r.Scope == ban.ScopeAddress && r.Subject.Prefix.Contains(a) {
				covered = true
			}
		}
		want := covered && i != 3
		if got := g.Banned(a); got != want && (exact || want) {
			t.Fatalf("%v: Banned %v, an active address ban covers it: %v (allow-listed: %v); records %v", a, got, covered, i == 3, subjects(bans))
		}
		if got := kernel.Contains(a); got != covered && (exact || covered) {
			t.Fatalf("%v: the kernel enforcer holds %v, records say %v", a, got, covered)
		}
	}
}

func subjects(rs []ban.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Scope + ":" + r.Subject.String()
	}
	return out
}
