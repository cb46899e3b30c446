//go:build linux

package netnstest_test

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"

	"github.com/sipban/sipban/internal/netnstest"
)

func TestMain(m *testing.M) { netnstest.Main(m) }

// TestLoopbackUp shows the namespace is usable: loopback carries a datagram
// between two 127/8 addresses.
func TestLoopbackUp(t *testing.T) {
	netnstest.Require(t)
	srv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer srv.Close()
	cli, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)}, srv.LocalAddr().(*net.UDPAddr))
	require.NoError(t, err)
	defer cli.Close()
	_, err = cli.Write([]byte("ping"))
	require.NoError(t, err)
	require.NoError(t, srv.SetReadDeadline(time.Now().Add(5*time.Second)))
	buf := make([]byte, 8)
	n, from, err := srv.ReadFromUDP(buf)
	require.NoError(t, err)
	require.Equal(t, "ping", string(buf[:n]))
	require.Equal(t, "127.0.0.2", from.IP.String())
}

func TestProber(t *testing.T) {
	netnstest.Require(t)
	p := netnstest.NewProber(t)
	for _, a := range []string{"127.0.0.2", "127.9.8.7", "fd00:5ba::2", "fd00:5ba:1:2::3"} {
		require.True(t, p.Delivered(t, netip.MustParseAddr(a)), a)
	}
}

// TestFlow: a tracked flow to the responder gets its answers.
func TestFlow(t *testing.T) {
	netnstest.Require(t)
	netnstest.TrackConnections(t)
	r := netnstest.StartResponder(t, netip.MustParseAddrPort("127.0.0.1:0"))
	src := netip.MustParseAddrPort("127.0.0.2:5062")
	f := netnstest.StartFlow(t, src, r.Addr(), time.Millisecond)
	require.True(t, f.WaitAnswers(20, 5*time.Second))
	require.True(t, netnstest.Tracked(t, src), "the flow is in conntrack")
	r6 := netnstest.StartResponder(t, netip.MustParseAddrPort("[::1]:0"))
	f6 := netnstest.StartFlow(t, netip.MustParseAddrPort("[fd00:5ba::7]:5062"), r6.Addr(), time.Millisecond)
	require.True(t, f6.WaitAnswers(20, 5*time.Second))
}

// TestSysfs: the mounted sysfs lists this namespace's devices, no others.
func TestSysfs(t *testing.T) {
	dir := netnstest.Sysfs(t)
	entries, err := os.ReadDir(filepath.Join(dir, "class", "net"))
	require.NoError(t, err)
	links, err := netlink.LinkList()
	require.NoError(t, err)
	var got, want []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	for _, l := range links {
		want = append(want, l.Attrs().Name)
	}
	require.Contains(t, got, "lo")
	require.ElementsMatch(t, want, got)
}
