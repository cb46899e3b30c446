package watch

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
)

// HEPOptions configure a HEPServer. The zero value is usable.
type HEPOptions struct {
	// AuthKey, if set, is the key every HEP packet must carry (see
	// HEPDecoder.AuthKey). A TCP connection that sends a packet without it
	// is closed.
	AuthKey string
	// Senders, if set, are the only addresses HEP is read from: datagrams
	// from others are dropped and their connections closed at once, and
	// counted as refused. A UDP sender address can be forged; a TCP one
	// cannot, so mirror over TCP where the port is reachable by others.
	Senders []netip.Prefix
	// MaxConns bounds the TCP connections served at once; one more is
	// closed as soon as it is accepted, and counted. Zero means 64.
	MaxConns int
	// IdleTimeout closes a TCP connection that sends nothing for this
	// long; senders reconnect when they next have something to send. Zero
	// means 10 minutes.
	IdleTimeout time.Duration
	// Logger receives the packets refused and the connections closed for
	// them, at most once per LogEvery, with counts. Nil means
	// slog.Default().
	Logger *slog.Logger
	// LogEvery bounds those lines; zero means a minute.
	LogEvery time.Duration
	// Now times the packets that carry no timestamp. Nil means time.Now.
	Now func() time.Time
}

// HEPStats counts what a HEPServer has read.
type HEPStats struct {
	Packets     int // SIP packets passed on
	Unsupported int // HEP packets of something else (RTCP, logs, SCTP): ErrHEPUnsupported
	Refused     int // HEP packets refused by any other ErrHEP error, or cut short
	Conns       int // TCP connections accepted and served
	ConnsFull   int // TCP connections closed at once: MaxConns were open
}

// errSender is why a packet or connection from outside Senders is refused.
var errSender = errors.New("watch: hep: sender not in HEPOptions.Senders")

// sender reports whether HEP is read from a.
func (s *HEPServer) sender(a netip.Addr) bool {
	if len(s.opts.Senders) == 0 {
		return true
	}
	a = a.Unmap()
	for _, p := range s.opts.Senders {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// addrPort reads a net.Addr of UDP or TCP; the zero AddrPort otherwise.
func addrPort(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.AddrPort()
	case *net.TCPAddr:
		return a.AddrPort()
	}
	return netip.AddrPort{}
}

// HEPServer receives HEP over UDP (one packet per datagram) and TCP
// (HEPv3 packets back to back, cut at their total length, at most 65,535
// bytes each) and passes each SIP packet to a function, one at a time. A
// packet it cannot read is counted and logged; on TCP, where the next
// packet's start is lost with the length, a bad length or magic closes that
// connection, never the server. Its methods are safe for concurrent use.
//
// HEP carries no proof of who sent it: anyone who can reach the port can
// make the Pairer see any traffic, and so have any address banned. Listen
// on loopback or a private address the SIP server alone reaches, and set
// AuthKey.
type HEPServer struct {
	opts HEPOptions

	mu      sync.Mutex // serialises fn and guards the rest
	stats   HEPStats
	logged  time.Time // last refusal logged
	pending int       // refusals since, that one included
}

// NewHEPServer returns a HEPServer, or an error for invalid options. It
// starts nothing: Serve does.
func NewHEPServer(opts HEPOptions) (*HEPServer, error) {
	switch {
	case opts.MaxConns < 0:
		return nil, fmt.Errorf("watch: negative MaxConns %d", opts.MaxConns)
	case opts.IdleTimeout < 0:
		return nil, fmt.Errorf("watch: negative IdleTimeout %v", opts.IdleTimeout)
	case opts.LogEvery < 0:
		return nil, fmt.Errorf("watch: negative LogEvery %v", opts.LogEvery)
	}
	if opts.MaxConns == 0 {
		opts.MaxConns = 64
	}
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = 10 * time.Minute
	}
	if opts.LogEvery == 0 {
		opts.LogEvery = time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &HEPServer{opts: opts}, nil
}

// Stats returns the counts so far.
func (s *HEPServer) Stats() HEPStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Serve reads HEP from pc (datagrams) and ln (streams), either of which
// may be nil, and calls fn for every SIP packet, never two at once, until
// ctx is done (it returns ctx.Err()), fn returns an error (it returns
// that), or pc or ln fails (it returns the error). The Packet is reused: fn
// must not keep it. Serve closes pc, ln and the connections it accepted,
// and waits for its goroutines, before it returns.
func (s *HEPServer) Serve(ctx context.Context, pc net.PacketConn, ln net.Listener, fn func(*Packet) error) error {
	if pc == nil && ln == nil {
		return errors.New("watch: hep: nothing to serve")
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r := &hepRun{s: s, stop: cancel, fn: fn}
	if pc != nil {
		defer context.AfterFunc(ctx, func() { pc.Close() })()
		r.wg.Go(func() { r.datagrams(ctx, pc) })
	}
	if ln != nil {
		defer context.AfterFunc(ctx, func() { ln.Close() })()
		r.wg.Go(func() { r.accept(ctx, ln) })
	}
	r.wg.Wait()
	// Closed already unless a read or accept failed; closed anyway.
	if pc != nil {
		pc.Close()
	}
	if ln != nil {
		ln.Close()
	}
	return context.Cause(ctx)
}

// hepRun is one call of Serve. Whatever ends it (fn's error, a read or
// accept error) stops it with that cause; the first one stands.
type hepRun struct {
	s    *HEPServer
	stop context.CancelCauseFunc
	fn   func(*Packet) error
	wg   sync.WaitGroup
}

func (r *hepRun) datagrams(ctx context.Context, pc net.PacketConn) {
	buf := make([]byte, 1<<16)
	d := HEPDecoder{AuthKey: r.s.opts.AuthKey}
	// net.PacketConn.ReadFrom returns the address as an interface, which
	// allocates; a *net.UDPConn can do without.
	udp, _ := pc.(interface {
		ReadFromUDPAddrPort([]byte) (int, netip.AddrPort, error)
	})
	for ctx.Err() == nil {
		var n int
		var ap netip.AddrPort
		var addr net.Addr
		var err error
		if udp != nil {
			n, ap, err = udp.ReadFromUDPAddrPort(buf)
		} else {
			n, addr, err = pc.ReadFrom(buf)
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			r.stop(fmt.Errorf("watch: hep: read: %w", err))
			return
		}
		if udp == nil {
			ap = addrPort(addr)
		}
		if !r.s.sender(ap.Addr()) {
			r.s.refused("packet from a sender not allowed", ap, errSender)
			continue
		}
		if err := r.handle(ctx, &d, buf[:n]); err != nil {
			if udp != nil {
				r.s.refused("packet refused", ap, err)
			} else {
				r.s.refused("packet refused", addr, err)
			}
		}
	}
}

func (r *hepRun) accept(ctx context.Context, ln net.Listener) {
	slots := make(chan struct{}, r.s.opts.MaxConns)
	var wait time.Duration
	for ctx.Err() == nil {
		c, err := ln.Accept()
		switch {
		case ctx.Err() != nil:
			if c != nil {
				c.Close()
			}
			return
		case errors.Is(err, net.ErrClosed):
			r.stop(fmt.Errorf("watch: hep: accept: %w", err))
			return
		case err != nil:
			// Out of descriptors, or a connection reset before it was
			// accepted: wait and retry, as net/http does.
			wait = min(max(2*wait, 5*time.Millisecond), time.Second)
			r.s.mu.Lock()
			r.s.logLocked("accept failed", ln.Addr(), err)
			r.s.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
			continue
		}
		wait = 0
		if from := addrPort(c.RemoteAddr()); !r.s.sender(from.Addr()) {
			c.Close()
			r.s.refused("connection from a sender not allowed", from, errSender)
			continue
		}
		select {
		case slots <- struct{}{}:
		default:
			c.Close()
			r.s.full(c.RemoteAddr())
			continue
		}
		r.s.mu.Lock()
		r.s.stats.Conns++
		r.s.mu.Unlock()
		r.wg.Go(func() { r.stream(ctx, c, func() { <-slots }) })
	}
}

// stream reads one connection until it ends, fails, is idle too long, or
// sends what cannot be framed or is not authorised. It frees the
// connection's slot before it closes it, so that a sender who sees the close
// and reconnects finds the slot free.
func (r *hepRun) stream(ctx context.Context, c net.Conn, free func()) {
	defer c.Close()
	defer free()
	defer context.AfterFunc(ctx, func() { c.Close() })()
	br := bufio.NewReaderSize(c, 1<<16) // holds the longest HEPv3 packet
	d := HEPDecoder{AuthKey: r.s.opts.AuthKey}
	from := c.RemoteAddr()
	for {
		err := c.SetReadDeadline(time.Now().Add(r.s.opts.IdleTimeout))
		var head, frame []byte
		var n int
		if err == nil {
			head, err = br.Peek(6)
		}
		if err == nil {
			n, err = hepFrame(head)
		}
		if err == nil {
			frame, err = br.Peek(n)
		}
		if err == nil {
			if err := r.handle(ctx, &d, frame); err != nil {
				r.s.refused("packet refused", from, err)
				if errors.Is(err, ErrHEPAuth) {
					return
				}
			}
			_, _ = br.Discard(n) // Peek made sure of n bytes
			continue
		}
		// Ending between packets, for whatever reason, is quiet: the
		// sender closed, went idle, or Serve is stopping.
		switch {
		case ctx.Err() != nil:
		case br.Buffered() == 0 && (errors.Is(err, io.EOF) || errors.Is(err, os.ErrDeadlineExceeded)):
		case errors.Is(err, io.EOF), errors.Is(err, os.ErrDeadlineExceeded):
			r.s.refused("connection closed", from, ErrHEPTruncated)
		default:
			r.s.refused("connection closed", from, err)
		}
		return
	}
}

// handle decodes one HEP packet from b and passes it to fn. It returns
// why it refused the packet, if it did; fn's error stops the run.
func (r *hepRun) handle(ctx context.Context, d *HEPDecoder, b []byte) error {
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if ctx.Err() != nil {
		return nil // fn failed already, in another goroutine
	}
	p, err := d.Decode(s.opts.Now(), b)
	switch {
	case errors.Is(err, ErrHEPUnsupported):
		s.stats.Unsupported++
		return nil
	case err != nil:
		return err
	}
	s.stats.Packets++
	if err := r.fn(p); err != nil {
		r.stop(err)
	}
	return nil
}

func (s *HEPServer) full(from net.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.ConnsFull++
	s.logLocked("connection closed: MaxConns open", from, nil)
}

func (s *HEPServer) refused(what string, from any, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Refused++
	s.logLocked(what, from, err)
}

// logLocked logs a refusal unless one was logged within LogEvery; the
// next line says how many there were since (refused packets, connections
// closed, accept errors).
func (s *HEPServer) logLocked(what string, from any, err error) {
	s.pending++
	now := time.Now()
	if !s.logged.IsZero() && now.Sub(s.logged) < s.opts.LogEvery {
		return
	}
	s.opts.Logger.Warn("watch: hep: "+what, "from", from, "err", err, "refusals", s.pending)
	s.logged, s.pending = now, 0
}
