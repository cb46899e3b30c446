package storetest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/detect"
)

// NewMemory returns an empty Memory store.
func NewMemory() *Memory {
	return &Memory{d: &data{
		records:  map[detect.Subject]ban.StoredRecord{},
		offences: map[detect.Subject]ban.Offence{},
		devices:  map[[3]string]ban.KnownDevice{},
		lifts:    map[memLiftKey]ban.StoredLift{},
	}}
}

// Reopen returns another handle on m's data, open whether m is or not.
func (m *Memory) Reopen() *Memory { return &Memory{d: m.d} }

// Memory is the simplest Store that meets the contract: the suite's own
// check that it asks nothing more, and a store for tests of what uses one.
// Its data outlives Close, as a file would: Reopen opens it again.
type Memory struct {
	mu     sync.Mutex
	closed bool
	d      *data
}

type data struct {
	mu       sync.Mutex
	records  map[detect.Subject]ban.StoredRecord
	offences map[detect.Subject]ban.Offence
	devices  map[[3]string]ban.KnownDevice
	lifts    map[memLiftKey]ban.StoredLift
	failures []ban.Failure // in the order written
}

type memLiftKey struct {
	sub detect.Subject
	at  int64
}

var errClosed = errors.New("storetest: memory store closed")

func (m *Memory) Load(ctx context.Context, fn func(ban.Change) error) error {
	if err := m.check(ctx); err != nil {
		return err
	}
	m.d.mu.Lock()
	var cs []ban.Change
	for _, r := range m.d.records {
		cs = append(cs, ban.Change{Op: ban.OpRecord, Record: r})
	}
	for _, o := range m.d.offences {
		cs = append(cs, ban.Change{Op: ban.OpEnd, Offence: o})
	}
	for _, d := range m.d.devices {
		cs = append(cs, ban.Change{Op: ban.OpDevice, Device: d})
	}
	for _, l := range m.d.lifts {
		cs = append(cs, ban.Change{Op: ban.OpLift, Lift: l})
	}
	for _, f := range m.d.failures {
		cs = append(cs, ban.Change{Op: ban.OpFailure, Failure: f})
	}
	m.d.mu.Unlock()
	for _, c := range cs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(c); err != nil {
			return err
		}
	}
	return nil
}

func (m *Memory) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errClosed
	}
	return nil
}

func (m *Memory) Write(ctx context.Context, batch []ban.Change) error {
	if err := m.check(ctx); err != nil {
		return err
	}
	d := m.d
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range batch {
		switch c.Op {
		case ban.OpRecord:
			d.records[c.Record.Subject] = c.Record
		case ban.OpEnd:
			delete(d.records, c.Offence.Subject)
			d.offences[c.Offence.Subject] = c.Offence
		case ban.OpDevice:
			dv := c.Device
			d.devices[[3]string{dv.Where.String(), dv.Account, dv.UserAgent}] = dv
		case ban.OpLift:
			d.lifts[memLiftKey{c.Lift.Subject, c.Lift.Note.At.UnixNano()}] = c.Lift
		case ban.OpFailure:
			d.failures = append(d.failures, c.Failure)
		case ban.OpAge:
			forget(d.offences, c.Age.Offences, func(o ban.Offence) time.Time { return o.End })
			forget(d.devices, c.Age.Devices, func(d ban.KnownDevice) time.Time { return d.Last })
			forget(d.lifts, c.Age.Lifts, func(l ban.StoredLift) time.Time { return l.Note.At })
			d.failures = slices.DeleteFunc(d.failures, func(f ban.Failure) bool { return f.At.Before(c.Age.Failures) })
		}
	}
	return nil
}

func forget[K comparable, V any](m map[K]V, before time.Time, at func(V) time.Time) {
	for k, v := range m {
		if at(v).Before(before) {
			delete(m, k)
		}
	}
}

func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}
