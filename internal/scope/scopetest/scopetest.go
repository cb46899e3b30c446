//go:build linux

// Package scopetest checks with real packets, inside a network namespace
// (internal/netnstest), what a kernel enforcer's bans cover: a banned
// source is dropped on the ban's ports, over UDP and TCP, IPv4 and IPv6,
// still reaches every other port, and an allow-listed source inside a
// banned prefix is never dropped.
//
//	scopetest.Run(t, func(t *testing.T, o scopetest.Options) enforce.Enforcer { ... })
//
// Packets go to listeners on Dst4 and Dst6, which a test must not ban.
package scopetest

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

	"github.com/sipban/sipban/enforce"
	"github.com/sipban/sipban/internal/netnstest"
)

// The addresses packets are sent to. Dst4 lies outside every prefix the
// suites ban, so that neither the probes' answers (a TCP handshake) nor
// the markers are dropped by a ban under test.
var (
	Dst4 = netip.MustParseAddr("127.254.254.254")
	Dst6 = netip.IPv6Loopback()
)

// Options are the scope an enforcer under test is opened with; each
// enforcer maps them to its own Options fields of the same names.
type Options struct {
	Ports    []uint16
	AllPorts bool
	Allow    []netip.Prefix
}

// Opener returns a fresh enforcer with o, closed when t ends.
type Opener func(t *testing.T, o Options) enforce.Enforcer

// tcpWait is how long a TCP handshake on loopback may take before its SYN
// counts as dropped; one completes in microseconds.
const tcpWait = 300 * time.Millisecond

// Reaches reports whether a packet from src to port on Dst4 or Dst6 (as
// src's family) gets through: a UDP datagram arrives, or a TCP handshake
// completes. network is "udp" or "tcp".
func Reaches(t testing.TB, network string, src netip.Addr, port uint16) bool {
	t.Helper()
	netnstest.Require(t)
	dst := netip.AddrPortFrom(Dst4, port)
	if src.Is6() {
		dst = netip.AddrPortFrom(Dst6, port)
		if !src.IsLoopback() {
			// A TCP answer to src needs a route back.
			netnstest.AnyIP(t, netip.PrefixFrom(src, 128))
		}
	}
	switch network {
	case "udp":
		return reachesUDP(t, src, dst)
	case "tcp":
		return reachesTCP(t, src, dst)
	}
	t.Fatalf("scopetest: network %q: want udp or tcp", network)
	return false
}

func reachesUDP(t testing.TB, src netip.Addr, dst netip.AddrPort) bool {
	t.Helper()
	rx, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(dst))
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	tx := netnstest.ListenFrom(t, netip.AddrPortFrom(src, 0))
	defer tx.Close()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], 1)
	if _, err := tx.WriteToUDPAddrPort(b[:], dst); err != nil {
		t.Fatalf("send from %v: %v", src, err)
	}
	// A marker from dst itself, which no ban covers, says the probe had
	// its chance. Loopback keeps order on one CPU; a sender that moved
	// CPUs may be overtaken, so the probe gets a little longer.
	binary.BigEndian.PutUint64(b[:], 2)
	if _, err := rx.WriteToUDPAddrPort(b[:], dst); err != nil {
		t.Fatalf("marker: %v", err)
	}
	seen, deadline := false, time.Now().Add(5*time.Second)
	for {
		if err := rx.SetReadDeadline(deadline); err != nil {
			t.Fatal(err)
		}
		n, err := rx.Read(b[:])
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if !seen {
				t.Fatal("scopetest: the marker never arrived")
			}
			return false
		}
		if err != nil {
			t.Fatal(err)
		}
		switch v := binary.BigEndian.Uint64(b[:]); {
		case n != 8:
		case v == 1:
			return true
		case v == 2 && !seen:
			seen, deadline = true, time.Now().Add(30*time.Millisecond)
		}
	}
}

func reachesTCP(t testing.TB, src netip.Addr, dst netip.AddrPort) bool {
	t.Helper()
	ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(dst))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d := net.Dialer{
		LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0)),
		Timeout:   tcpWait,
		Control: func(network, address string, c syscall.RawConn) error {
			var err error
			cerr := c.Control(func(fd uintptr) {
				if src.Is4() {
					err = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_FREEBIND, 1)
				} else {
					err = unix.SetsockoptInt(int(fd), unix.SOL_IPV6, unix.IPV6_FREEBIND, 1)
				}
			})
			return errors.Join(cerr, err)
		},
	}
	c, err := d.DialContext(context.Background(), "tcp", dst.String())
	if err == nil {
		c.Close()
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	t.Fatalf("tcp from %v to %v: %v", src, dst, err)
	return false
}

// Run runs the suite, one subtest per scope.
func Run(t *testing.T, open Opener) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, Opener)
	}{
		{"SIPPorts", testSIPPorts},
		{"Ports", testPorts},
		{"AllPorts", testAllPorts},
		{"Allow", testAllow},
		{"TrackedFlow", testTrackedFlow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			netnstest.Require(t)
			tc.fn(t, open)
		})
	}
}

var (
	pfx  = netip.MustParsePrefix
	addr = netip.MustParseAddr
)

func ban(t *testing.T, e enforce.Enforcer, prefixes ...string) {
	t.Helper()
	for _, p := range prefixes {
		if err := e.Ban(context.Background(), pfx(p), time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
}

// probe is one packet to send and whether it must get through.
type probe struct {
	network, src string
	port         uint16
	reaches      bool
}

func expect(t *testing.T, probes []probe) {
	t.Helper()
	for _, p := range probes {
		if got := Reaches(t, p.network, addr(p.src), p.port); got != p.reaches {
			verb := "dropped"
			if got {
				verb = "delivered"
			}
			t.Errorf("%s from %s to port %d %s, want the opposite", p.network, p.src, p.port, verb)
		}
	}
}

// testSIPPorts: by default a ban drops 5060 and 5061, TCP and UDP, and
// nothing else; lifting it opens 5060 again.
func testSIPPorts(t *testing.T, open Opener) {
	e := open(t, Options{})
	ban(t, e, "127.0.0.2/32", "fd00:5ba:0:2::/64")
	var probes []probe
	for _, src := range []string{"127.0.0.2", "fd00:5ba:0:2::7"} {
		probes = append(probes,
			probe{"udp", src, 5060, false},
			probe{"udp", src, 5061, false},
			probe{"tcp", src, 5060, false},
			probe{"tcp", src, 5061, false},
			probe{"udp", src, 8080, true},
			probe{"tcp", src, 22, true},
		)
	}
	probes = append(probes,
		probe{"udp", "127.0.0.3", 5060, true},
		probe{"tcp", "fd00:5ba:0:3::7", 5060, true},
	)
	expect(t, probes)
	if err := e.Unban(context.Background(), pfx("127.0.0.2/32")); err != nil {
		t.Fatal(err)
	}
	expect(t, []probe{{"udp", "127.0.0.2", 5060, true}, {"tcp", "127.0.0.2", 5061, true}})
}

// testPorts: Ports replaces the default list.
func testPorts(t *testing.T, open Opener) {
	e := open(t, Options{Ports: []uint16{5080, 5090}})
	ban(t, e, "127.0.0.2/32", "fd00:5ba:0:2::/64")
	expect(t, []probe{
		{"udp", "127.0.0.2", 5080, false},
		{"tcp", "127.0.0.2", 5090, false},
		{"udp", "fd00:5ba:0:2::7", 5090, false},
		{"tcp", "fd00:5ba:0:2::7", 5080, false},
		{"udp", "127.0.0.2", 5060, true},
		{"tcp", "fd00:5ba:0:2::7", 5060, true},
	})
}

// testAllPorts: AllPorts drops everything from a banned source.
func testAllPorts(t *testing.T, open Opener) {
	e := open(t, Options{AllPorts: true})
	ban(t, e, "127.0.0.2/32", "fd00:5ba:0:2::/64")
	expect(t, []probe{
		{"udp", "127.0.0.2", 5060, false},
		{"udp", "127.0.0.2", 8080, false},
		{"tcp", "127.0.0.2", 22, false},
		{"udp", "fd00:5ba:0:2::7", 8080, false},
		{"tcp", "fd00:5ba:0:2::7", 443, false},
		{"udp", "127.0.0.3", 8080, true},
	})
}

// testAllow: an allow-listed address or prefix inside a wider ban (an
// aggregated IPv4 /24, an IPv6 /48) is never dropped, on the SIP ports or,
// with AllPorts, any; its neighbours are.
func testAllow(t *testing.T, open Opener) {
	for _, all := range []bool{false, true} {
		e := open(t, Options{AllPorts: all, Allow: []netip.Prefix{pfx("127.0.0.9/32"), pfx("fd00:5ba:0:9::/64"), pfx("::ffff:127.0.0.10/128")}})
		ban(t, e, "127.0.0.0/24", "fd00:5ba::/48", "127.0.0.9/32")
		port := uint16(5060)
		if all {
			port = 8080
		}
		expect(t, []probe{
			{"udp", "127.0.0.9", port, true},
			{"tcp", "127.0.0.9", port, true},
			{"udp", "127.0.0.10", port, true},
			{"udp", "fd00:5ba:0:9::1", port, true},
			{"tcp", "fd00:5ba:0:9:ffff::1", port, true},
			{"udp", "127.0.0.8", port, false},
			{"tcp", "127.0.0.11", port, false},
			{"udp", "fd00:5ba:0:8::1", port, false},
			{"tcp", "fd00:5ba:0:a::1", port, false},
		})
		if c, ok := e.(enforce.Closer); ok {
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// testTrackedFlow: a ban on the SIP ports still acts before connection
// tracking: a UDP flow to 5060 that conntrack knows, and a stateful
// firewall accepts early, stops when its source is banned and resumes when
// the ban is lifted.
func testTrackedFlow(t *testing.T, open Opener) {
	e := open(t, Options{})
	netnstest.TrackConnections(t)
	r := netnstest.StartResponder(t, netip.AddrPortFrom(Dst4, 5060))
	src := netip.MustParseAddrPort("127.0.0.2:5062")
	f := netnstest.StartFlow(t, src, r.Addr(), time.Millisecond)
	if !f.WaitAnswers(50, 5*time.Second) || !netnstest.Tracked(t, src) {
		t.Fatal("the flow does not run, or conntrack does not know it")
	}
	ban(t, e, "127.0.0.2/32")
	sent := f.Sent()
	// Requests sent before Ban returned may still be answered.
	time.Sleep(50 * time.Millisecond)
	if !f.Silent(200 * time.Millisecond) {
		t.Error("answers after the ban")
	}
	if got := f.LastAnswered(); got > sent {
		t.Errorf("request %d, sent after Ban returned (at %d), was answered", got, sent)
	}
	if !netnstest.Tracked(t, src) {
		t.Error("conntrack lost the flow: the test proves nothing")
	}
	if err := e.Unban(context.Background(), pfx("127.0.0.2/32")); err != nil {
		t.Fatal(err)
	}
	if !f.WaitAnswers(20, 5*time.Second) {
		t.Error("answers do not resume after Unban")
	}
}
