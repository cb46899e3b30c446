package loadtest

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"testing"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/enforce"
)

// guessed is the account the flood sources guess at until they are banned.
const guessed = "100"

// passwords are the accounts of the test servers: the n-th client
// registers "user<n>", and guessed exists, so that guesses at it are
// wrong passwords.
var passwords = func() map[string]string {
	m := map[string]string{guessed: "not guessed"}
	for i := range 256 {
		m["user"+strconv.Itoa(i)] = "secret" + strconv.Itoa(i)
	}
	return m
}()

// rig is a running server on 127.0.0.1, with its Guard when protected.
type rig struct {
	addr  netip.AddrPort
	guard *ban.Guard // nil: unprotected
	srv   *Server
	ctx   context.Context
}

// start runs a server until tb ends: unprotected, or protected by a Guard
// with the enforcers kernel returns for the server's port (nil: the
// Guard's in-memory one only).
func start(tb testing.TB, protect bool, kernel func(port uint16) []enforce.Enforcer) *rig {
	tb.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	r := &rig{addr: conn.LocalAddr().(*net.UDPAddr).AddrPort()}
	ctx, cancel := context.WithCancel(context.Background())
	r.ctx = ctx
	if protect {
		var es []enforce.Enforcer
		if kernel != nil {
			es = kernel(r.addr.Port())
		}
		if r.guard, err = ban.New(ban.Options{Enforcers: es, Logger: slog.New(slog.DiscardHandler)}); err != nil {
			tb.Fatal(err)
		}
	}
	if r.srv, err = NewServer(r.guard, passwords); err != nil {
		tb.Fatal(err)
	}
	served, ran := make(chan error, 1), make(chan error, 1)
	go func() { served <- r.srv.Serve(ctx, conn) }()
	if r.guard != nil {
		go func() { ran <- r.guard.Run(ctx) }()
	} else {
		ran <- context.Canceled
	}
	tb.Cleanup(func() {
		cancel()
		for _, ch := range []chan error{served, ran} {
			if err := <-ch; !errors.Is(err, context.Canceled) {
				tb.Error(err)
			}
		}
		if n := r.srv.Failed(); n > 0 {
			tb.Errorf("%d responses not sent", n)
		}
	})
	return r
}

// dial returns n clients on 127.0.0.1, each with its own socket and
// account, closed when tb ends.
func (r *rig) dial(tb testing.TB, n int) []*Client {
	tb.Helper()
	cs := make([]*Client, n)
	for i := range cs {
		c, err := Dial(netip.MustParseAddrPort("127.0.0.1:0"), r.addr, "user"+strconv.Itoa(i), "secret"+strconv.Itoa(i))
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { c.Close() })
		cs[i] = c
	}
	return cs
}

// floodSources are the banned senders: 127.0.0.2 to 127.0.0.50, which
// Linux delivers on loopback (the local route is 127.0.0.0/8).
func floodSources() []netip.Addr {
	out := make([]netip.Addr, 0, 49)
	for i := 2; i <= 50; i++ {
		out = append(out, netip.AddrFrom4([4]byte{127, 0, 0, byte(i)}))
	}
	return out
}

// flood bans floodSources in the rig's Guard by guessing passwords, and
// returns a Flood from them, closed when tb ends.
func (r *rig) flood(tb testing.TB) *Flood {
	tb.Helper()
	srcs := floodSources()
	if err := BanByGuessing(r.ctx, r.guard, r.addr, guessed, srcs); err != nil {
		tb.Fatal(err)
	}
	ports := make([]netip.AddrPort, len(srcs))
	for i, a := range srcs {
		ports[i] = netip.AddrPortFrom(a, 0)
	}
	f, err := NewFlood(ports, r.addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	return f
}
