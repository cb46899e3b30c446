package loadtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
)

// FloodRate is the flood the issue sets: datagrams per second.
const FloodRate = 50_000

// batch is how many datagrams one system call sends (sendmmsg on Linux):
// the generator's own cost per datagram must stay well below the server's.
const batch = 64

// Flood sends REGISTER datagrams with a password guess from a set of
// sources to one server at a paced rate. Create it with NewFlood; it is
// safe for concurrent use.
type Flood struct {
	conns  []*ipv4.PacketConn
	msgs   [][]ipv4.Message // per source, a batch of its datagram
	closer []*net.UDPConn
	sent   atomic.Int64
}

// NewFlood binds one socket to each of sources (an address with port 0, or
// a port) that will send to server.
func NewFlood(sources []netip.AddrPort, server netip.AddrPort) (*Flood, error) {
	f := &Flood{}
	to := net.UDPAddrFromAddrPort(server)
	for i, src := range sources {
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(src))
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("loadtest: flood from %v: %w", src, err)
		}
		f.closer = append(f.closer, c)
		f.conns = append(f.conns, ipv4.NewPacketConn(c))
		payload := guess(c.LocalAddr().(*net.UDPAddr).AddrPort(), server, i)
		ms := make([]ipv4.Message, batch)
		for j := range ms {
			ms[j] = ipv4.Message{Buffers: [][]byte{payload}, Addr: to}
		}
		f.msgs = append(f.msgs, ms)
	}
	return f, nil
}

// guess is a REGISTER with credentials, as a password guesser sends.
func guess(src, dst netip.AddrPort, i int) []byte {
	n := strconv.Itoa(i)
	return []byte("REGISTER sip:" + dst.String() + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + src.String() + ";rport;branch=z9hG4bKflood" + n + "\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <sip:100@" + dst.Addr().String() + ">;tag=flood" + n + "\r\n" +
		"To: <sip:100@" + dst.Addr().String() + ">\r\n" +
		"Call-ID: flood-" + n + "\r\nCSeq: 1 REGISTER\r\n" +
		"Contact: <sip:100@" + src.String() + ">\r\n" +
		`Authorization: Digest username="100", realm="` + Realm + `", nonce="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", ` +
		`uri="sip:` + dst.String() + `", response="00000000000000000000000000000000", algorithm=MD5` + "\r\n" +
		"User-Agent: friendly-scanner\r\nContent-Length: 0\r\n\r\n")
}

// Sources returns the addresses the flood sends from.
func (f *Flood) Sources() []netip.AddrPort {
	out := make([]netip.AddrPort, len(f.closer))
	for i, c := range f.closer {
		out[i] = c.LocalAddr().(*net.UDPAddr).AddrPort()
	}
	return out
}

// Sent returns how many datagrams the flood has handed to the kernel.
func (f *Flood) Sent() int64 { return f.sent.Load() }

// Run sends rate datagrams per second, the sources in turn, until ctx is
// done or limit datagrams are sent. It paces by the clock, in bursts of up
// to one batch a millisecond apart, and forgives what it fell behind by
// more than a second, so that a stall does not become a burst. It returns
// ctx.Err(), nil at limit, or the first send error.
func (f *Flood) Run(ctx context.Context, rate int, limit int64) error {
	start := time.Now()
	var paced int64 // datagrams sent or forgiven
	for next := 0; f.sent.Load() < limit; {
		if err := ctx.Err(); err != nil {
			return err
		}
		due := int64(time.Since(start).Seconds() * float64(rate))
		paced = max(paced, due-int64(rate))
		if due <= paced {
			time.Sleep(time.Millisecond)
			continue
		}
		n := int(min(due-paced, batch, limit-f.sent.Load()))
		k, err := f.conns[next].WriteBatch(f.msgs[next][:n], 0)
		if err != nil {
			return fmt.Errorf("loadtest: flood from %v: %w", f.closer[next].LocalAddr(), err)
		}
		paced += int64(k)
		f.sent.Add(int64(k))
		next = (next + 1) % len(f.conns)
	}
	return nil
}

// Close closes the sockets.
func (f *Flood) Close() error {
	var errs []error
	for _, c := range f.closer {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
