package sipgoban

import (
	"context"
	"net"
	"sync/atomic"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/enforce"
)

// Filter is the read filter, Listener and Wrap of one Guard, counting what
// they drop and refuse: the in-memory enforcement's share of the work,
// which no kernel counter sees. Each count is one atomic add on a path
// that has already decided to drop. The functions ReadFilter, Listener and
// Wrap are those of a Filter whose counts nobody reads. A Filter is safe
// for concurrent use.
type Filter struct {
	g                                     *ban.Guard
	dropped, bytes, cut, blocked, guarded atomic.Uint64
}

// NewFilter returns a Filter for g with its counts at zero.
func NewFilter(g *ban.Guard) *Filter { return &Filter{g: g} }

// FilterStats are a Filter's counts.
type FilterStats struct {
	// Dropped counts the datagrams and stream reads from banned sources
	// dropped before sipgo parsed them; Bytes, their bytes.
	Dropped, Bytes uint64
	// Cut counts the connections of banned sources closed, at accept or
	// at a read.
	Cut uint64
	// Blocked and Guarded count the requests Wrap answered 403 without
	// calling the handler: for an account blocked at their source, and
	// from a stranger to a guarded address or account.
	Blocked, Guarded uint64
}

// Dropped implements enforce.Counter: Stats' Dropped and Bytes. It never
// fails.
func (f *Filter) Dropped(context.Context) (packets, bytes uint64, err error) {
	return f.dropped.Load(), f.bytes.Load(), nil
}

var _ enforce.Counter = (*Filter)(nil)

// Stats returns the counts so far.
func (f *Filter) Stats() FilterStats {
	return FilterStats{Dropped: f.dropped.Load(), Bytes: f.bytes.Load(), Cut: f.cut.Load(),
		Blocked: f.blocked.Load(), Guarded: f.guarded.Load()}
}

// drop counts n bytes dropped, and the connection they came on cut if cut.
func (f *Filter) drop(n int, cut bool) {
	f.dropped.Add(1)
	f.bytes.Add(uint64(n))
	if cut {
		f.cut.Add(1)
	}
}

// ReadFilter is the package's ReadFilter, counted.
func (f *Filter) ReadFilter() sip.TransportReadFilter { return readFilter(f) }

// TransportOption is f.ReadFilter as a transport layer option.
func (f *Filter) TransportOption() sip.TransportLayerOption {
	return sip.WithTransportLayerReadFilter(f.ReadFilter())
}

// Listener is the package's Listener, counted.
func (f *Filter) Listener(l net.Listener) net.Listener { return &listener{Listener: l, f: f} }

// Wrap is the package's Wrap, counted.
func (f *Filter) Wrap(h sipgo.RequestHandler) sipgo.RequestHandler { return wrap(f, h) }
