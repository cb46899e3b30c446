//go:build linux

package scopetest

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/sipban/sipban/enforce"
)

// Counts checks that e, opened with the default Options, counts exactly
// the packets its bans drop (enforce.Counter): three UDP datagrams from a
// banned IPv4 address and two from a banned IPv6 one, each with 8 bytes of
// payload (36 and 56 bytes on the wire, as the kernel counts them), and
// none of one from an address not banned.
func Counts(t *testing.T, e enforce.Enforcer) {
	t.Helper()
	c, ok := e.(enforce.Counter)
	if !ok {
		t.Fatalf("%T does not implement enforce.Counter", e)
	}
	ctx := context.Background()
	p0, b0, err := c.Dropped(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p0 != 0 || b0 != 0 {
		t.Fatalf("a new enforcer has dropped %d packets, %d bytes", p0, b0)
	}
	v4, v6 := netip.MustParseAddr("127.0.9.1"), netip.MustParseAddr("fd00:5ba::9:1")
	for _, a := range []netip.Addr{v4, v6} {
		if err := e.Ban(ctx, netip.PrefixFrom(a, a.BitLen()), time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []netip.Addr{v4, v4, v4, v6, v6} {
		if Reaches(t, "udp", a, 5060) {
			t.Fatalf("a datagram from banned %v arrived", a)
		}
	}
	if !Reaches(t, "udp", netip.MustParseAddr("127.0.9.2"), 5060) {
		t.Fatal("a datagram from an address not banned was dropped")
	}
	packets, bytes, err := c.Dropped(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if packets != 5 || bytes != 3*36+2*56 {
		t.Fatalf("Dropped = %d packets, %d bytes; want 5, %d", packets, bytes, 3*36+2*56)
	}
}
