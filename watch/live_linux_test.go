package watch_test

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/sipban/sipban/internal/netnstest"
	"github.com/sipban/sipban/watch"
)

func TestMain(m *testing.M) { netnstest.Main(m) }

// TestLiveDropsForgedAnswers captures on one end of a veth pair, as on a
// server's own interface, while frames arrive from the other: an incoming
// packet whose source is one of this host's addresses, as a forged answer
// "from" the server is, never reaches the Pairer; packets from elsewhere
// and the host's own outgoing ones do.
func TestLiveDropsForgedAnswers(t *testing.T) {
	netnstest.Require(t)
	server4, server6 := netip.MustParseAddr("10.77.0.1"), netip.MustParseAddr("fd00:77::1")
	peer4, peer6 := netip.MustParseAddr("10.77.0.2"), netip.MustParseAddr("fd00:77::2")
	wire := veth(t, server4, server6, peer4)

	live, err := watch.OpenLive("wv1")
	require.NoError(t, err)
	t.Cleanup(func() { live.Close() })
	var mu sync.Mutex
	seen := map[netip.AddrPort]bool{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- live.Run(ctx, watch.NewDecoder(), func(p *watch.Packet) error {
			mu.Lock()
			defer mu.Unlock()
			seen[p.Src] = true
			return nil
		})
	}()

	at := func(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }
	msg := []byte("SIP/2.0 403 Forbidden\r\n\r\n")
	inject := func(src, dst netip.AddrPort) {
		t.Helper()
		_, err := unix.Write(wire, frame(t, layers.LinkTypeEthernet, "udp", src, dst, msg))
		require.NoError(t, err)
	}
	inject(at(server4, 5060), at(peer4, 5061)) // forged, IPv4
	inject(at(server6, 5060), at(peer6, 5061)) // forged, IPv6
	inject(at(peer4, 5061), at(server4, 5060)) // a client's
	inject(at(peer6, 5061), at(server6, 5060)) // a client's, IPv6
	c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(at(server4, 5062)), net.UDPAddrFromAddrPort(at(peer4, 5061)))
	require.NoError(t, err)
	_, err = c.Write(msg) // the server's own answer, outgoing
	require.NoError(t, err)
	require.NoError(t, c.Close())
	inject(at(peer4, 5999), at(server4, 5060)) // the last: all before it are read once it is

	want := []netip.AddrPort{at(peer4, 5061), at(peer6, 5061), at(server4, 5062), at(peer4, 5999)}
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return seen[at(peer4, 5999)] && seen[at(server4, 5062)]
	}, 5*time.Second, 10*time.Millisecond, "the last packet and the outgoing one are captured")
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	mu.Lock()
	defer mu.Unlock()
	for _, a := range want {
		assert.True(t, seen[a], "%v is captured", a)
	}
	assert.False(t, seen[at(server4, 5060)], "a forged IPv4 answer is dropped")
	assert.False(t, seen[at(server6, 5060)], "a forged IPv6 answer is dropped")
	assert.Len(t, seen, len(want))
}

// veth makes the pair wv0-wv1 in the test's namespace, with the server's
// addresses on wv1 and peer4 a neighbour there, and returns a packet socket
// that writes frames into wv0, which arrive at wv1 from the wire.
func veth(t *testing.T, server4, server6, peer4 netip.Addr) int {
	t.Helper()
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 2} // frame's destination
	la := netlink.NewLinkAttrs()
	la.Name = "wv0"
	require.NoError(t, netlink.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: "wv1", PeerHardwareAddr: mac}))
	t.Cleanup(func() {
		if l, err := netlink.LinkByName("wv0"); err == nil {
			assert.NoError(t, netlink.LinkDel(l))
		}
	})
	w0, err := netlink.LinkByName("wv0")
	require.NoError(t, err)
	w1, err := netlink.LinkByName("wv1")
	require.NoError(t, err)
	for a, bits := range map[netip.Addr]int{server4: 24, server6: 64} {
		p := netip.PrefixFrom(a, bits)
		ip := &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(bits, a.BitLen())}
		require.NoError(t, netlink.AddrAdd(w1, &netlink.Addr{IPNet: ip, Flags: unix.IFA_F_NODAD}), "%v", p)
	}
	for _, l := range []netlink.Link{w0, w1} {
		require.NoError(t, netlink.LinkSetUp(l))
	}
	require.NoError(t, netlink.NeighAdd(&netlink.Neigh{LinkIndex: w1.Attrs().Index, State: netlink.NUD_PERMANENT,
		IP: peer4.AsSlice(), HardwareAddr: net.HardwareAddr{2, 0, 0, 0, 0, 1}}))
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
	require.NoError(t, err)
	t.Cleanup(func() { unix.Close(fd) })
	require.NoError(t, unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: w0.Attrs().Index}))
	// Both ends up: carrier on wv1 before the first frame.
	require.Eventually(t, func() bool {
		l, err := netlink.LinkByName("wv1")
		return err == nil && l.Attrs().OperState == netlink.OperUp
	}, 5*time.Second, 10*time.Millisecond)
	return fd
}

// TestLiveDropsFramesBeforeItsFilter opens captures while forged answers
// keep arriving: a frame queued between the socket's bind and its filter's
// attach, which the kernel never filtered, must not reach the Pairer
// either.
func TestLiveDropsFramesBeforeItsFilter(t *testing.T) {
	netnstest.Require(t)
	server4, server6 := netip.MustParseAddr("10.77.0.1"), netip.MustParseAddr("fd00:77::1")
	peer4 := netip.MustParseAddr("10.77.0.2")
	wire := veth(t, server4, server6, peer4)
	msg := []byte("SIP/2.0 403 Forbidden\r\n\r\n")
	forged := frame(t, layers.LinkTypeEthernet, "udp", netip.AddrPortFrom(server4, 5060), netip.AddrPortFrom(peer4, 5061), msg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	flooding := make(chan struct{})
	go func() {
		defer close(flooding)
		for sent := 0; ctx.Err() == nil && sent < 5_000_000; sent++ {
			if _, err := unix.Write(wire, forged); err != nil {
				return
			}
		}
	}()
	const opens = 200
	leaked := 0
	for i := range opens {
		live, err := watch.OpenLive("wv1")
		require.NoError(t, err)
		marker := netip.AddrPortFrom(peer4, uint16(10000+i))
		seen := make(chan struct{})
		var once sync.Once
		rctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			done <- live.Run(rctx, watch.NewDecoder(), func(p *watch.Packet) error {
				switch p.Src {
				case marker:
					once.Do(func() { close(seen) })
				case netip.AddrPortFrom(server4, 5060):
					leaked++
				}
				return nil
			})
		}()
		// The marker follows whatever was queued; once it is read, so is
		// that. The flood may crowd it out of the backlog: resend it.
		mark := frame(t, layers.LinkTypeEthernet, "udp", marker, netip.AddrPortFrom(server4, 5060), msg)
		require.Eventually(t, func() bool {
			_, err := unix.Write(wire, mark)
			require.NoError(t, err)
			select {
			case <-seen:
				return true
			case <-time.After(20 * time.Millisecond):
				return false
			}
		}, 5*time.Second, time.Millisecond, "open %d: the marker is captured", i)
		stop()
		require.ErrorIs(t, <-done, context.Canceled)
		live.Close()
	}
	cancel()
	<-flooding
	assert.Zero(t, leaked, "forged answers captured in %d opens", opens)
}
