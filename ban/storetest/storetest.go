// Package storetest is a conformance suite for ban.Store implementations,
// in the spirit of testing/slogtest:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) func() (ban.Store, error) {
//			path := filepath.Join(t.TempDir(), "bans.db")
//			return func() (ban.Store, error) { return mystore.Open(path) }
//		})
//	}
//
// It checks every clause of the ban.Store contract: how each Op replays,
// order within a batch, failures in the order written, that everything
// survives Close and reopening, empty and big batches, Load's fn error, a
// cancelled context, concurrent use, subjects of every shape, odd strings,
// zero and non-UTC times, evidence with every field set, and Write after
// Close.
//
// The suite is stricter than the contract in one place: it expects OpAge to
// have forgotten what it names once Write returns, where the contract lets
// a store forget later.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/detect"
)

// Run runs the suite, one subtest per behaviour. open makes fresh, empty
// storage for one subtest and returns the opener of that storage: the
// suite calls it to open the store and again to reopen it after Close.
func Run(t *testing.T, open func(t *testing.T) func() (ban.Store, error)) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, *harness)
	}{
		{"Empty", testEmpty},
		{"RecordReplaces", testRecordReplaces},
		{"EndKeepsOffence", testEndKeepsOffence},
		{"EndWithoutRecord", testEndWithoutRecord},
		{"Devices", testDevices},
		{"Lifts", testLifts},
		{"Failures", testFailures},
		{"AgeFailures", testAgeFailures},
		{"Age", testAge},
		{"AgeZero", testAgeZero},
		{"BatchOrder", testBatchOrder},
		{"Reopen", testReopen},
		{"EmptyBatch", testEmptyBatch},
		{"LoadError", testLoadError},
		{"Cancelled", testCancelled},
		{"CancelledDuringLoad", testCancelledDuringLoad},
		{"Concurrent", testConcurrent},
		{"BigBatch", testBigBatch},
		{"OddStrings", testOddStrings},
		{"Subjects", testSubjects},
		{"Times", testTimes},
		{"Evidence", testEvidence},
		{"WriteAfterClose", testWriteAfterClose},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &harness{t: t, open: open(t)}
			h.reopen()
			t.Cleanup(func() {
				if h.s != nil {
					if err := h.s.Close(); err != nil {
						t.Errorf("Close: %v", err)
					}
				}
			})
			tc.fn(t, h)
		})
	}
}

// harness holds the store under test and reopens it.
type harness struct {
	t    *testing.T
	open func() (ban.Store, error)
	s    ban.Store
}

// reopen closes the store, if open, and opens it again.
func (h *harness) reopen() {
	h.t.Helper()
	h.close()
	s, err := h.open()
	if err != nil {
		h.t.Fatalf("open: %v", err)
	}
	h.s = s
}

func (h *harness) close() {
	h.t.Helper()
	if h.s == nil {
		return
	}
	err := h.s.Close()
	h.s = nil
	if err != nil {
		h.t.Fatalf("Close: %v", err)
	}
}

func (h *harness) write(batch ...ban.Change) {
	h.t.Helper()
	if err := h.s.Write(context.Background(), batch); err != nil {
		h.t.Fatalf("Write(%d changes): %v", len(batch), err)
	}
}

// state is what Load replayed, keyed as the contract keys it.
type state struct {
	records  map[detect.Subject]ban.StoredRecord
	offences map[detect.Subject]ban.Offence
	devices  map[deviceKey]ban.KnownDevice
	lifts    map[liftKey]ban.StoredLift
	failures []ban.Failure // in the order loaded
}

type deviceKey struct {
	where     netip.Addr
	account   string
	userAgent string
}

type liftKey struct {
	sub detect.Subject
	at  time.Time // in UTC, without a monotonic reading
}

func keyOfDevice(d ban.KnownDevice) deviceKey { return deviceKey{d.Where, d.Account, d.UserAgent} }

func keyOfLift(l ban.StoredLift) liftKey { return liftKey{l.Subject, norm(l.Note.At)} }

// load replays the store into a state, failing on a change loaded twice
// or an Op that Load must not return.
func (h *harness) load() state {
	h.t.Helper()
	st := state{
		records:  map[detect.Subject]ban.StoredRecord{},
		offences: map[detect.Subject]ban.Offence{},
		devices:  map[deviceKey]ban.KnownDevice{},
		lifts:    map[liftKey]ban.StoredLift{},
	}
	err := h.s.Load(context.Background(), func(c ban.Change) error {
		var dup bool
		switch c.Op {
		case ban.OpRecord:
			_, dup = st.records[c.Record.Subject]
			st.records[c.Record.Subject] = c.Record
		case ban.OpEnd:
			_, dup = st.offences[c.Offence.Subject]
			st.offences[c.Offence.Subject] = c.Offence
		case ban.OpDevice:
			k := keyOfDevice(c.Device)
			_, dup = st.devices[k]
			st.devices[k] = c.Device
		case ban.OpLift:
			k := keyOfLift(c.Lift)
			_, dup = st.lifts[k]
			st.lifts[k] = c.Lift
		case ban.OpFailure:
			st.failures = append(st.failures, c.Failure)
		default:
			return fmt.Errorf("Load returned a change with Op %v", c.Op)
		}
		if dup {
			return fmt.Errorf("Load returned %v twice for one key: %+v", c.Op, c)
		}
		return nil
	})
	if err != nil {
		h.t.Fatalf("Load: %v", err)
	}
	return st
}

// norm is a time as a store may give it back: in UTC, without a monotonic reading.
func norm(t time.Time) time.Time { return t.Round(0).UTC() }

// normRecord makes r comparable with reflect.DeepEqual to what a store
// gives back: times normalised, empty slices nil.
func normRecord(r ban.StoredRecord) ban.StoredRecord {
	r.Since, r.Until = norm(r.Since), norm(r.Until)
	e := &r.Evidence
	e.First, e.Last = norm(e.First), norm(e.Last)
	e.Accounts = nilIfEmpty(e.Accounts)
	e.Addresses = nilIfEmpty(e.Addresses)
	e.UserAgents = nilIfEmpty(e.UserAgents)
	e.Ports = nilIfEmpty(e.Ports)
	e.Statuses = nilIfEmpty(e.Statuses)
	return r
}

func nilIfEmpty[S ~[]E, E any](s S) S {
	if len(s) == 0 {
		return nil
	}
	return s
}

func normOffence(o ban.Offence) ban.Offence {
	o.End = norm(o.End)
	return o
}

func normDevice(d ban.KnownDevice) ban.KnownDevice {
	d.Last = norm(d.Last)
	return d
}

func normLift(l ban.StoredLift) ban.StoredLift {
	l.Note.At = norm(l.Note.At)
	if l.Probation != nil {
		p := *l.Probation
		p.Until = norm(p.Until)
		l.Probation = &p
	}
	return l
}

// expect checks that st holds exactly want, compared as a store may give it back.
func expect(t *testing.T, st state, want state) {
	t.Helper()
	compare(t, "record", st.records, want.records, normRecord)
	compare(t, "offence", st.offences, want.offences, normOffence)
	compare(t, "device", st.devices, want.devices, normDevice)
	compare(t, "lift", st.lifts, want.lifts, normLift)
	if len(st.failures) != len(want.failures) {
		t.Errorf("%d failures loaded, want %d", len(st.failures), len(want.failures))
		return
	}
	for i, w := range want.failures {
		if g := st.failures[i]; !reflect.DeepEqual(normFailure(g), normFailure(w)) {
			t.Errorf("failure %d loaded as\n\t%+v\nwant\n\t%+v", i, normFailure(g), normFailure(w))
		}
	}
}

func normFailure(f ban.Failure) ban.Failure {
	f.At = norm(f.At)
	return f
}

func compare[K comparable, V any](t *testing.T, what string, got, want map[K]V, n func(V) V) {
	t.Helper()
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			t.Errorf("%s %v not loaded, want %+v", what, k, w)
		case !reflect.DeepEqual(n(g), n(w)):
			t.Errorf("%s %v loaded as\n\t%+v\nwant\n\t%+v", what, k, n(g), n(w))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s %v loaded, want none: %+v", what, k, g)
		}
	}
}

// states builds a want from changes as a reference replay would keep them.
func states(cs ...ban.Change) state {
	st := state{
		records:  map[detect.Subject]ban.StoredRecord{},
		offences: map[detect.Subject]ban.Offence{},
		devices:  map[deviceKey]ban.KnownDevice{},
		lifts:    map[liftKey]ban.StoredLift{},
	}
	for _, c := range cs {
		switch c.Op {
		case ban.OpRecord:
			st.records[c.Record.Subject] = c.Record
		case ban.OpEnd:
			delete(st.records, c.Offence.Subject)
			st.offences[c.Offence.Subject] = c.Offence
		case ban.OpDevice:
			st.devices[keyOfDevice(c.Device)] = c.Device
		case ban.OpLift:
			st.lifts[keyOfLift(c.Lift)] = c.Lift
		case ban.OpFailure:
			st.failures = append(st.failures, c.Failure)
		default:
			panic("storetest: states takes no " + c.Op.String())
		}
	}
	return st
}

var (
	t0   = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	sub1 = detect.SubjectOf(netip.MustParseAddr("203.0.113.7"))
	sub2 = detect.SubjectOf(netip.MustParseAddr("2001:db8::7"))
)

func record(sub detect.Subject, level int) ban.Change {
	return ban.Change{Op: ban.OpRecord, Record: ban.StoredRecord{
		Subject: sub, Scope: "address", Cause: detect.BadCredentials, Level: level,
		Since: t0, Until: t0.Add(time.Duration(level) * time.Hour), Proven: true,
		Evidence: detect.Evidence{Count: 5 + level, First: t0.Add(-time.Minute), Last: t0,
			Accounts: []string{"alice"}, Detail: "5 guesses"},
	}}
}

func end(sub detect.Subject, level int, at time.Time) ban.Change {
	return ban.Change{Op: ban.OpEnd, Offence: ban.Offence{Subject: sub, Level: level, End: at, Proven: level%2 == 0}}
}

func device(where, account, ua string, last time.Time) ban.Change {
	return ban.Change{Op: ban.OpDevice, Device: ban.KnownDevice{
		Where: netip.MustParseAddr(where), Account: account, UserAgent: ua, Last: last}}
}

func lift(sub detect.Subject, by string, at time.Time, prob *ban.Probation) ban.Change {
	return ban.Change{Op: ban.OpLift, Lift: ban.StoredLift{Subject: sub,
		Note:      ban.LiftNote{By: by, Operator: prob == nil, Fixed: "password", Cause: "bad-credentials", At: at},
		Probation: prob}}
}

func age(a ban.Age) ban.Change { return ban.Change{Op: ban.OpAge, Age: a} }

// failure is a rejected password from from at at, as a Guard keeps one.
func failure(from string, account string, at time.Time) ban.Change {
	return ban.Change{Op: ban.OpFailure, Failure: ban.Failure{At: at, Source: netip.MustParseAddrPort(from),
		Transport: "udp", Method: "REGISTER", Status: 403, Account: account, Credentials: true, UserAgent: "Yealink"}}
}

// forgot is the moment a Guard forgot its counts on sub.
func forgot(sub detect.Subject, lifted bool, at time.Time) ban.Change {
	return ban.Change{Op: ban.OpFailure, Failure: ban.Failure{At: at, Forget: sub, Lifted: lifted}}
}

func testEmpty(t *testing.T, h *harness) {
	expect(t, h.load(), states())
}

func testRecordReplaces(t *testing.T, h *harness) {
	h.write(record(sub1, 1), record(sub2, 1))
	h.write(record(sub1, 2))
	expect(t, h.load(), states(record(sub1, 2), record(sub2, 1)))
}

func testEndKeepsOffence(t *testing.T, h *harness) {
	h.write(record(sub1, 1), record(sub2, 1))
	h.write(end(sub1, 1, t0.Add(time.Hour)))
	expect(t, h.load(), states(record(sub2, 1), end(sub1, 1, t0.Add(time.Hour))))
	h.write(record(sub1, 2))
	h.write(end(sub1, 2, t0.Add(3*time.Hour)))
	expect(t, h.load(), states(record(sub2, 1), end(sub1, 2, t0.Add(3*time.Hour))))
}

func testEndWithoutRecord(t *testing.T, h *harness) {
	h.write(record(sub2, 1))
	h.write(end(sub1, 3, t0))
	expect(t, h.load(), states(record(sub2, 1), end(sub1, 3, t0)))
}

func testDevices(t *testing.T, h *harness) {
	all := []ban.Change{
		device("203.0.113.7", "alice", "Yealink", t0),
		device("203.0.113.8", "alice", "Yealink", t0),
		device("203.0.113.7", "bob", "Yealink", t0),
		device("203.0.113.7", "alice", "Snom", t0),
		device("2001:db8:1:2::", "alice", "Yealink", t0),
	}
	d := device("203.0.113.9", "carol", "Grandstream", t0)
	d.Device.Port, d.Device.Instance = 65535, "<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>"
	d.Device.Contact = "<sip:carol@192.168.1.20:5060;transport=udp>"
	all = append(all, d)
	h.write(all...)
	later := device("203.0.113.7", "alice", "Yealink", t0.Add(time.Hour))
	h.write(later)
	expect(t, h.load(), states(append(all, later)...))
	if n := len(h.load().devices); n != len(all) {
		t.Errorf("%d devices loaded, want %d", n, len(all))
	}
}

func testLifts(t *testing.T, h *harness) {
	prob := &ban.Probation{Until: t0.Add(24 * time.Hour), Cause: detect.StaleAccount, Device: true, OthersOK: true, Guard: true, Fixed: "deleted the account"}
	a := lift(sub1, "ops", t0, nil)
	b := lift(sub1, "alice", t0.Add(time.Minute), prob)
	c := lift(sub2, "ops", t0, nil)
	h.write(a, b, c)
	expect(t, h.load(), states(a, b, c))
	// The same subject and Note.At again is the same lift.
	h.write(lift(sub1, "ops", t0, nil))
	if n := len(h.load().lifts); n != 3 {
		t.Errorf("%d lifts after a duplicate, want 3", n)
	}
}

// Failures load in the order they were written, across batches and
// reopening, whatever their times, each once, with every field.
func testFailures(t *testing.T, h *harness) {
	full := ban.Failure{At: t0.Add(time.Nanosecond), Source: netip.MustParseAddrPort("[2001:db8::7]:65535"),
		Transport: "tls", Method: "INVITE", Status: 488, Account: "ü€𝄞\x00\xff", Credentials: true, Unknown: true,
		Guarded: true, Target: "+4930123456", UserAgent: "Asterisk PBX 20.5.0", Malformed: "no Via"}
	all := []ban.Change{
		failure("203.0.113.7:5060", "alice", t0),
		failure("203.0.113.7:5060", "alice", t0), // the same again is a second failure
		{Op: ban.OpFailure, Failure: full},
		forgot(sub1, false, t0.Add(-time.Hour)), // times need not grow
		failure("[::ffff:203.0.113.8]:0", "", time.Time{}),
		forgot(detect.Subject{Account: "alice"}, true, t0.Add(time.Hour)),
	}
	h.write(all[:2]...)
	h.write(all[2:]...)
	h.write(record(sub1, 1))
	expect(t, h.load(), states(append(all, record(sub1, 1))...))
	h.reopen()
	more := failure("203.0.113.9:5062", "bob", t0.Add(-24*time.Hour))
	h.write(more)
	expect(t, h.load(), states(append(all, record(sub1, 1), more)...))
}

// OpAge forgets the failures from before its time, and only those.
func testAgeFailures(t *testing.T, h *harness) {
	old := failure("203.0.113.7:5060", "alice", t0.Add(-25*time.Hour))
	keep := []ban.Change{
		failure("203.0.113.7:5060", "alice", t0),
		forgot(sub1, false, t0.Add(-24*time.Hour)), // at the Age's time
		failure("203.0.113.8:5060", "bob", t0.Add(time.Minute)),
	}
	h.write(keep[0], old, keep[1], keep[2], device("203.0.113.7", "alice", "Yealink", t0.Add(-48*time.Hour)))
	h.write(age(ban.Age{Failures: t0.Add(-24 * time.Hour)}))
	expect(t, h.load(), states(append(keep, device("203.0.113.7", "alice", "Yealink", t0.Add(-48*time.Hour)))...))
	h.write(age(ban.Age{Failures: t0.Add(time.Hour)}))
	h.reopen()
	expect(t, h.load(), states(device("203.0.113.7", "alice", "Yealink", t0.Add(-48*time.Hour))))
}

func testAge(t *testing.T, h *harness) {
	at := func(d time.Duration) time.Time { return t0.Add(d * time.Hour) }
	other := netip.MustParseAddr("198.51.100.1")
	var old, kept []ban.Change
	for i, d := range []time.Duration{-2, -1, 0} {
		sub := detect.SubjectOf(other.Next())
		other = other.Next()
		cs := []ban.Change{
			end(sub, i, at(d)),
			device(other.String(), "alice", "Yealink", at(d)),
			lift(sub, "ops", at(d), nil),
		}
		if d < -1 {
			old = append(old, cs...)
		} else {
			kept = append(kept, cs...) // at the Age's time or after
		}
	}
	h.write(append(old, kept...)...)
	ages := []ban.Age{{Offences: at(-1)}, {Devices: at(-1)}, {Lifts: at(-1)}}
	for i, a := range ages {
		h.write(age(a))
		want := slicesConcat(kept, old[i+1:]) // each time forgets one kind
		expect(t, h.load(), states(want...))
	}
	h.reopen()
	expect(t, h.load(), states(kept...))
	// Aging again at a later time forgets what is now older.
	h.write(age(ban.Age{Offences: at(1), Devices: at(1), Lifts: at(1)}))
	expect(t, h.load(), states())
}

func slicesConcat(a, b []ban.Change) []ban.Change {
	return append(append([]ban.Change(nil), a...), b...)
}

func testAgeZero(t *testing.T, h *harness) {
	all := []ban.Change{
		record(sub1, 1),
		end(sub2, 1, time.Time{}),
		end(detect.SubjectOf(netip.MustParseAddr("198.51.100.9")), 1, t0.AddDate(-10, 0, 0)),
		device("203.0.113.7", "alice", "Yealink", t0.AddDate(-10, 0, 0)),
		lift(sub1, "ops", t0.AddDate(-10, 0, 0), nil),
	}
	h.write(all...)
	h.write(age(ban.Age{}))
	expect(t, h.load(), states(all...))
	// Records are not aged: the Guard ends them.
	h.write(age(ban.Age{Offences: t0.AddDate(1, 0, 0), Devices: t0.AddDate(1, 0, 0), Lifts: t0.AddDate(1, 0, 0)}))
	expect(t, h.load(), states(record(sub1, 1)))
}

func testBatchOrder(t *testing.T, h *harness) {
	h.write(record(sub1, 1), end(sub1, 1, t0))
	h.write(end(sub2, 1, t0), record(sub2, 2))
	expect(t, h.load(), states(end(sub1, 1, t0), end(sub2, 1, t0), record(sub2, 2)))
}

func testReopen(t *testing.T, h *harness) {
	all := []ban.Change{
		record(sub1, 1), record(sub2, 2), end(sub2, 1, t0),
		end(detect.SubjectOf(netip.MustParseAddr("198.51.100.9")), 4, t0),
		device("203.0.113.7", "alice", "Yealink", t0),
		lift(sub1, "alice", t0, &ban.Probation{Until: t0.Add(time.Hour), Cause: detect.BadCredentials}),
	}
	h.write(all[:3]...)
	h.write(all[3:]...)
	want := states(all...)
	expect(t, h.load(), want)
	h.reopen()
	expect(t, h.load(), want)
	h.reopen()
	h.write(record(sub1, 3))
	h.reopen()
	expect(t, h.load(), states(append(all, record(sub1, 3))...))
}

func testEmptyBatch(t *testing.T, h *harness) {
	h.write(record(sub1, 1))
	if err := h.s.Write(context.Background(), nil); err != nil {
		t.Errorf("Write(nil): %v", err)
	}
	if err := h.s.Write(context.Background(), []ban.Change{}); err != nil {
		t.Errorf("Write(empty): %v", err)
	}
	h.reopen()
	expect(t, h.load(), states(record(sub1, 1)))
}

func testLoadError(t *testing.T, h *harness) {
	h.write(record(sub1, 1), record(sub2, 1), end(sub1, 1, t0), device("203.0.113.7", "alice", "Yealink", t0))
	stop := errors.New("stop here")
	calls := 0
	err := h.s.Load(context.Background(), func(ban.Change) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) {
		t.Errorf("Load = %v, want fn's error", err)
	}
	if calls != 1 {
		t.Errorf("fn called %d times after its error, want once", calls)
	}
}

func testCancelled(t *testing.T, h *harness) {
	h.write(record(sub1, 1))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.s.Load(ctx, func(ban.Change) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("Load(cancelled) = %v, want context.Canceled", err)
	}
	if err := h.s.Write(ctx, []ban.Change{record(sub2, 1), end(sub1, 1, t0)}); !errors.Is(err, context.Canceled) {
		t.Errorf("Write(cancelled) = %v, want context.Canceled", err)
	}
	// Applied or not, never in part.
	st := h.load()
	_, put := st.records[sub2]
	_, ended := st.offences[sub1]
	if put != ended {
		t.Errorf("a cancelled batch applied in part: second record %v, offence %v", put, ended)
	}
	if put {
		expect(t, st, states(record(sub1, 1), record(sub2, 1), end(sub1, 1, t0)))
	} else {
		expect(t, st, states(record(sub1, 1)))
	}
}

func testCancelledDuringLoad(t *testing.T, h *harness) {
	const n = 1000
	batch := make([]ban.Change, n)
	for i := range batch {
		batch[i] = record(nthSubject(i), 1)
	}
	h.write(batch...)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	err := h.s.Load(ctx, func(ban.Change) error {
		calls++
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Load = %v, want context.Canceled", err)
	}
	if calls == n {
		t.Errorf("Load went through all %d changes after ctx was cancelled", n)
	}
}

// nthSubject is a distinct subject for each i: addresses in 10.0.0.0/8,
// every fourth an account at one, every seventh an IPv6 /64.
func nthSubject(i int) detect.Subject {
	switch {
	case i%7 == 0:
		b := [16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
		return detect.Subject{Prefix: netip.PrefixFrom(netip.AddrFrom16(b), 64)}
	case i%4 == 0:
		s := detect.SubjectOf(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
		s.Account = fmt.Sprintf("user%d", i)
		return s
	}
	return detect.SubjectOf(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
}

func testConcurrent(t *testing.T, h *harness) {
	const writers, batches, per = 4, 25, 4
	var wg sync.WaitGroup
	errs := make(chan error, writers*batches+64)
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				batch := make([]ban.Change, per)
				for i := range batch {
					batch[i] = record(nthSubject((w*batches+b)*per+i), 1)
				}
				if err := h.s.Write(context.Background(), batch); err != nil {
					errs <- fmt.Errorf("Write: %w", err)
				}
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for range 10 {
				if err := h.s.Load(context.Background(), func(ban.Change) error { return nil }); err != nil {
					errs <- fmt.Errorf("Load: %w", err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(h.load().records); n != writers*batches*per {
		t.Errorf("%d records loaded after concurrent writes, want %d", n, writers*batches*per)
	}
}

func testBigBatch(t *testing.T, h *harness) {
	const n = 20000
	batch := make([]ban.Change, n)
	for i := range batch {
		batch[i] = record(nthSubject(i), i%5)
	}
	h.write(batch...)
	h.reopen()
	expect(t, h.load(), states(batch...))
}

func testOddStrings(t *testing.T, h *harness) {
	long := strings.Repeat("x", 70000)
	odd := []string{"\xff\xfe\xfd", "a\x00b", "\x00", long, "a@b", "@", "@@*", "alice@*", "*", "a/b", " spaced ", "ü€𝄞"}
	a := netip.MustParseAddr("203.0.113.7")
	var all []ban.Change
	for i, s := range odd {
		sub := detect.SubjectOf(a)
		sub.Account = s
		r := record(sub, i)
		r.Record.Scope = s
		r.Record.Evidence.Detail = s
		r.Record.Evidence.Accounts = []string{s, ""}
		r.Record.Evidence.UserAgents = []string{s}
		all = append(all, r,
			record(detect.Subject{Account: s}, i),
			end(detect.Subject{Prefix: netip.MustParsePrefix("2001:db8::/48"), Account: s}, i, t0),
			device("203.0.113.7", s, s, t0),
			device("203.0.113.7", "alice", s, t0),
			ban.Change{Op: ban.OpDevice, Device: ban.KnownDevice{Where: netip.MustParseAddr("203.0.113.8"),
				Account: s, Last: t0, Port: uint16(i), Instance: s, Contact: s}},
			lift(sub, s, t0, &ban.Probation{Until: t0, Fixed: s}))
	}
	h.write(all...)
	want := states(all...)
	if len(want.records) != 2*len(odd) {
		t.Fatalf("test bug: %d distinct records, want %d", len(want.records), 2*len(odd))
	}
	expect(t, h.load(), want)
	h.reopen()
	expect(t, h.load(), want)
}

func testSubjects(t *testing.T, h *harness) {
	p := netip.MustParsePrefix
	subs := []detect.Subject{
		{Prefix: p("203.0.113.7/32")},
		{Prefix: p("203.0.113.0/24")},
		{Prefix: p("0.0.0.0/0")},
		{Prefix: p("2001:db8::7/128")},
		{Prefix: p("2001:db8:1:2::/64")},
		{Prefix: p("2001:db8:1::/48")},
		{Prefix: p("::/0")},
		{Prefix: p("::ffff:203.0.113.7/128")},
		{Prefix: p("203.0.113.7/32"), Account: "alice"},
		{Prefix: p("2001:db8:1:2::/64"), Account: "alice"},
		{Account: "alice"},
		{Account: "bob"},
	}
	var all []ban.Change
	for i, s := range subs {
		all = append(all, record(s, i), end(s, i, t0), lift(s, "ops", t0, nil))
	}
	// Records on every subject, all ended, then put again.
	h.write(all...)
	want := states(all...)
	if len(want.records) != 0 || len(want.offences) != len(subs) || len(want.lifts) != len(subs) {
		t.Fatalf("test bug: subjects not distinct: %d offences, %d lifts", len(want.offences), len(want.lifts))
	}
	var again []ban.Change
	for i, s := range subs {
		again = append(again, record(s, i+1))
	}
	h.write(again...)
	want = states(append(all, again...)...)
	h.reopen()
	expect(t, h.load(), want)
}

func testTimes(t *testing.T, h *harness) {
	india := time.FixedZone("IST", 5*3600+1800)
	west := time.FixedZone("", -7*3600)
	local := time.Now() // with a monotonic reading
	r := record(sub1, 1)
	r.Record.Since = time.Time{}
	r.Record.Until = time.Date(2026, 11, 1, 17, 30, 0, 123456789, india)
	r.Record.Evidence.First = time.Time{}
	r.Record.Evidence.Last = local
	all := []ban.Change{
		r,
		end(sub2, 1, time.Date(2026, 11, 1, 5, 0, 0, 1, west)),
		end(detect.SubjectOf(netip.MustParseAddr("198.51.100.9")), 1, time.Time{}),
		device("203.0.113.7", "alice", "Yealink", local),
		device("203.0.113.8", "alice", "Yealink", time.Time{}),
		lift(sub1, "ops", time.Time{}, nil),
		lift(sub1, "alice", time.Date(2026, 11, 1, 17, 30, 0, 1, india), &ban.Probation{Until: time.Time{}}),
		lift(sub2, "alice", time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), nil),
	}
	h.write(all...)
	h.reopen()
	st := h.load()
	expect(t, st, states(all...))
	if got := st.records[sub1].Since; !got.IsZero() {
		t.Errorf("zero Since loaded as %v", got)
	}
	if got := st.records[sub1].Until; !got.Equal(r.Record.Until) {
		t.Errorf("Until loaded as %v, want %v", got, r.Record.Until)
	}
}

func testEvidence(t *testing.T, h *harness) {
	r := record(detect.Subject{Account: "alice"}, 3)
	r.Record.Scope = "account"
	r.Record.Cause = detect.CauseCustom + 7
	r.Record.Proven = true
	r.Record.Device = true
	r.Record.OthersOK = true
	r.Record.KnownDevice = true
	r.Record.Evidence = detect.Evidence{
		Count:            1 << 40,
		First:            t0.Add(-time.Hour + 1),
		Last:             t0.Add(-time.Nanosecond),
		Accounts:         []string{"alice", "alice2", ""},
		DistinctAccounts: 1<<31 + 5,
		Addresses: []netip.Addr{
			netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("2001:db8::1"),
			netip.MustParseAddr("::ffff:198.51.100.1"), netip.MustParseAddr("fe80::1%eth0"),
		},
		UserAgents: []string{"Yealink SIP-T46S 66.86.0.15", "friendly-scanner"},
		Ports:      []uint16{0, 5060, 65535},
		Statuses:   []int{401, 403, 404, -1, 1 << 20},
		Interval:   1500*time.Millisecond + 7,
		Unanswered: 0.987654321,
		Detail:     "3 bad passwords from one device",
	}
	neg := record(sub2, -2)
	neg.Record.Evidence = detect.Evidence{Count: -1, Interval: -time.Second, Unanswered: -0.5}
	h.write(r, neg)
	h.reopen()
	expect(t, h.load(), states(r, neg))
}

func testWriteAfterClose(t *testing.T, h *harness) {
	h.write(record(sub1, 1))
	s := h.s
	h.close()
	defer func() {
		if p := recover(); p != nil {
			t.Errorf("Write after Close panicked: %v", p)
		}
	}()
	if err := s.Write(context.Background(), []ban.Change{record(sub2, 1)}); err == nil {
		t.Error("Write after Close returned nil")
	}
	h.reopen()
	expect(t, h.load(), states(record(sub1, 1)))
}
