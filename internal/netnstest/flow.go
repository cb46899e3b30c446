//go:build linux

package netnstest

import (
	"bytes"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Responder is a minimal SIP server: it answers every OPTIONS datagram with
// 200 OK, echoing the request's Via, Call-ID and CSeq lines.
type Responder struct {
	conn    *net.UDPConn
	answers atomic.Int64
}

// StartResponder listens on addr (port 0 picks one) and answers until t ends.
func StartResponder(t testing.TB, addr netip.AddrPort) *Responder {
	t.Helper()
	Require(t)
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
	if err != nil {
		t.Fatal(err)
	}
	r := &Responder{conn: c}
	done := make(chan struct{})
	t.Cleanup(func() { c.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if _, err := c.WriteToUDPAddrPort(answer(buf[:n]), from); err == nil {
				r.answers.Add(1)
			}
		}
	}()
	return r
}

// Addr is where the responder listens.
func (r *Responder) Addr() netip.AddrPort { return r.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func answer(req []byte) []byte {
	out := []byte("SIP/2.0 200 OK\r\n")
	for line := range bytes.SplitSeq(req, []byte("\r\n")) {
		for _, h := range []string{"Via:", "From:", "To:", "Call-ID:", "CSeq:"} {
			if bytes.HasPrefix(line, []byte(h)) {
				out = append(append(out, line...), "\r\n"...)
			}
		}
	}
	return append(out, "Content-Length: 0\r\n\r\n"...)
}

// Flow is a client that sends an OPTIONS from one fixed source every
// interval, as a device keeping a UDP flow alive does, and counts answers.
type Flow struct {
	answers atomic.Int64
	seq     atomic.Int64 // requests numbered so far
	last    atomic.Int64 // highest request number answered
}

// StartFlow starts sending from src to dst until t ends.
func StartFlow(t testing.TB, src, dst netip.AddrPort, interval time.Duration) *Flow {
	t.Helper()
	if src.Addr().Is6() && !src.Addr().IsLoopback() {
		// Answers to src need a route back.
		AnyIP(t, netip.PrefixFrom(src.Addr(), 128))
	}
	c := ListenFrom(t, src)
	f := &Flow{}
	stop := make(chan struct{})
	done := make(chan struct{}, 2)
	t.Cleanup(func() { close(stop); c.Close(); <-done; <-done })
	go func() {
		defer func() { done <- struct{}{} }()
		buf := make([]byte, 2048)
		for {
			n, _, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			f.answers.Add(1)
			if _, id, ok := bytes.Cut(buf[:n], []byte("Call-ID: flow-")); ok {
				id, _, _ = bytes.Cut(id, []byte("\r\n"))
				if v, err := strconv.ParseInt(string(id), 10, 64); err == nil && v > f.last.Load() {
					f.last.Store(v)
				}
			}
		}
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			seq := strconv.FormatInt(f.seq.Add(1), 10)
			req := "OPTIONS sip:probe@" + dst.String() + " SIP/2.0\r\n" +
				"Via: SIP/2.0/UDP " + src.String() + ";branch=z9hG4bK-flow\r\n" +
				"From: <sip:flow@" + src.Addr().String() + ">;tag=flow\r\n" +
				"To: <sip:probe@" + dst.Addr().String() + ">\r\n" +
				"Call-ID: flow-" + seq + "\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
			if _, err := c.WriteToUDPAddrPort([]byte(req), dst); err != nil {
				return
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	return f
}

// Sent is the number of the latest request the flow has begun to send;
// requests are numbered from 1.
func (f *Flow) Sent() int64 { return f.seq.Load() }

// LastAnswered is the number of the latest request answered.
func (f *Flow) LastAnswered() int64 { return f.last.Load() }

// Answers is how many answers the flow has had.
func (f *Flow) Answers() int64 { return f.answers.Load() }

// WaitAnswers waits up to timeout for n more answers than it has now.
func (f *Flow) WaitAnswers(n int64, timeout time.Duration) bool {
	want := f.Answers() + n
	for end := time.Now().Add(timeout); time.Now().Before(end); time.Sleep(time.Millisecond) {
		if f.Answers() >= want {
			return true
		}
	}
	return false
}

// Silent reports whether no answer arrives for d.
func (f *Flow) Silent(d time.Duration) bool {
	before := f.Answers()
	time.Sleep(d)
	return f.Answers() == before
}

// TrackConnections turns connection tracking on in the namespace, as on any
// stateful firewall, with an input rule that accepts established flows
// early: the case where a ban placed after conntrack lets a flow through.
func TrackConnections(t testing.TB) {
	t.Helper()
	Require(t)
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = bytes.NewBufferString(`table inet sipbantest_state {
	chain input {
		type filter hook input priority filter; policy accept;
		ct state established,related accept
	}
}
`)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v: %s", err, out)
	}
}

// Tracked reports whether conntrack holds a UDP flow from src.
func Tracked(t testing.TB, src netip.AddrPort) bool {
	t.Helper()
	family := netlink.InetFamily(unix.AF_INET)
	if src.Addr().Is6() {
		family = unix.AF_INET6
	}
	flows, err := netlink.ConntrackTableList(netlink.ConntrackTable, family)
	if err != nil {
		t.Fatalf("conntrack: %v", err)
	}
	for _, f := range flows {
		if f.Forward.Protocol == unix.IPPROTO_UDP && f.Forward.SrcPort == src.Port() && f.Forward.SrcIP.Equal(src.Addr().AsSlice()) {
			return true
		}
	}
	return false
}

// AnyIP makes every address in p local on loopback, so that datagrams sent
// to them (answers to a freebind source) are delivered.
func AnyIP(t testing.TB, p netip.Prefix) {
	t.Helper()
	Require(t)
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	r := &netlink.Route{
		LinkIndex: lo.Attrs().Index,
		Dst:       &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())},
		Type:      unix.RTN_LOCAL,
		Table:     unix.RT_TABLE_LOCAL,
		Scope:     unix.RT_SCOPE_HOST,
	}
	if err := netlink.RouteReplace(r); err != nil {
		t.Fatalf("local route %v: %v", p, err)
	}
}
