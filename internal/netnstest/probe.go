//go:build linux

package netnstest

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ListenFrom opens a UDP socket bound to src, which need not be an address
// of this host (IP_FREEBIND): a test can send from any source, 127/8 or
// IPv6, inside its namespace. It closes when t ends.
func ListenFrom(t testing.TB, src netip.AddrPort) *net.UDPConn {
	t.Helper()
	Require(t)
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var err error
		cerr := c.Control(func(fd uintptr) {
			if src.Addr().Is4() {
				err = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_FREEBIND, 1)
			} else {
				err = unix.SetsockoptInt(int(fd), unix.SOL_IPV6, unix.IPV6_FREEBIND, 1)
			}
		})
		return errors.Join(cerr, err)
	}}
	network := "udp4"
	if src.Addr().Is6() {
		network = "udp6"
	}
	pc, err := lc.ListenPacket(context.Background(), network, src.String())
	if err != nil {
		t.Fatalf("listen on %v: %v", src, err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.(*net.UDPConn)
}

// Prober tells whether the kernel delivers datagrams from a source, by
// sending real ones: to a receiver on 127.0.0.1 or ::1, each followed by a
// marker from the receiver's own address.
type Prober struct {
	rx4, rx6 *net.UDPConn
	seq      uint64
}

// NewProber starts the receivers; they close when t ends.
func NewProber(t testing.TB) *Prober {
	t.Helper()
	Require(t)
	p := &Prober{}
	var err error
	if p.rx4, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
		t.Fatal(err)
	}
	if p.rx6, err = net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.rx4.Close(); p.rx6.Close() })
	return p
}

// Delivered sends one datagram from src (a fresh port) and reports whether it
// arrived.
func (p *Prober) Delivered(t testing.TB, src netip.Addr) bool {
	t.Helper()
	rx := p.rx4
	if src.Is6() {
		rx = p.rx6
	}
	to := rx.LocalAddr().(*net.UDPAddr)
	tx := ListenFrom(t, netip.AddrPortFrom(src, 0))
	defer tx.Close()
	p.seq++
	probe, marker := p.seq<<1, p.seq<<1|1
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], probe)
	if _, err := tx.WriteToUDP(b[:], to); err != nil {
		t.Fatalf("probe from %v: %v", src, err)
	}
	binary.BigEndian.PutUint64(b[:], marker)
	if _, err := rx.WriteToUDP(b[:], to); err != nil {
		t.Fatalf("marker: %v", err)
	}
	// Loopback delivers in order on one CPU; a goroutine that moved CPUs
	// between the two sends may see the marker first, so a missing probe
	// is waited for a little longer.
	seen, deadline := false, time.Now().Add(5*time.Second)
	for {
		if err := rx.SetReadDeadline(deadline); err != nil {
			t.Fatal(err)
		}
		n, err := rx.Read(b[:])
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if deadline.Sub(time.Now()) > time.Second {
				t.Fatal("probe: the marker never arrived")
			}
			return seen
		}
		if err != nil {
			t.Fatal(err)
		}
		switch n, v := n, binary.BigEndian.Uint64(b[:]); {
		case n != 8:
		case v == probe:
			return true
		case v == marker:
			deadline = time.Now().Add(30 * time.Millisecond)
		}
	}
}
