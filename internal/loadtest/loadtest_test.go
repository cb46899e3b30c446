package loadtest

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"
)

// TestHarness: registrations succeed through both servers; wrong passwords
// get the protected server's sources banned and not the plain one's; and
// the flood from banned sources gets no answer while clients still
// register.
func TestHarness(t *testing.T) {
	ctx := context.Background()
	for _, protect := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "sipban"}[protect], func(t *testing.T) {
			r := start(t, protect, nil)
			for _, c := range r.dial(t, 3) {
				for range 3 {
					if status, err := c.Register(ctx); err != nil || status != 200 {
						t.Fatalf("%v: status %d, %v", c.LocalAddr(), status, err)
					}
				}
			}
			if !protect {
				// The plain server answers every guess: nothing bans.
				g, err := Dial(netip.MustParseAddrPort("127.0.0.2:0"), r.addr, guessed, "wrong")
				if err != nil {
					t.Fatal(err)
				}
				defer g.Close()
				for i := range 10 {
					if status, err := g.Register(ctx); err != nil || status != 403 {
						t.Fatalf("guess %d: status %d, %v", i, status, err)
					}
				}
				// And it answers the flood's datagrams, so the silence
				// below is sipban's doing.
				f, err := NewFlood([]netip.AddrPort{netip.MustParseAddrPort("127.0.0.3:0")}, r.addr)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if err := f.Run(ctx, 1000, 10); err != nil {
					t.Fatal(err)
				}
				if !answered(t, f, f.Sources()[0], time.Second) {
					t.Fatal("the plain server did not answer the flood")
				}
				return
			}
			f := r.flood(t)
			for _, a := range floodSources() {
				if !r.guard.Banned(a) {
					t.Fatalf("%v not banned", a)
				}
			}
			fctx, stop := context.WithCancel(ctx)
			flooded := make(chan error, 1)
			go func() { flooded <- f.Run(fctx, 5_000, 5_000) }()
			c := r.dial(t, 1)[0]
			if status, err := c.Register(ctx); err != nil || status != 200 {
				t.Fatalf("under the flood: status %d, %v", status, err)
			}
			if err := <-flooded; err != nil {
				t.Fatal(err)
			}
			stop()
			if f.Sent() != 5_000 {
				t.Fatalf("flood sent %d, want 5000", f.Sent())
			}
			// The server reads its socket in order: once this is
			// answered, so would the flood be.
			if status, err := c.Register(ctx); err != nil || status != 200 {
				t.Fatalf("after the flood: status %d, %v", status, err)
			}
			for _, src := range f.Sources() {
				if answered(t, f, src, 0) {
					t.Errorf("%v: a banned source got an answer", src)
				}
			}
		})
	}
}

// answered reports whether anything came back to the flood's source src
// within wait.
func answered(t *testing.T, f *Flood, src netip.AddrPort, wait time.Duration) bool {
	t.Helper()
	for _, c := range f.closer {
		if c.LocalAddr().(*net.UDPAddr).AddrPort() != src {
			continue
		}
		if err := c.SetReadDeadline(time.Now().Add(wait)); err != nil {
			t.Fatal(err)
		}
		_, err := c.Read(make([]byte, 2048))
		if err == nil {
			return true
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal(err)
		}
	}
	return false
}
