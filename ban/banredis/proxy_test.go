package banredis_test

import (
	"io"
	"net"
	"sync"
	"testing"
)

// proxy relays TCP connections to a server. Freeze makes the connections
// open now go silent without closing, as a network partition or a crashed
// host does; connections made after it relay as before.
type proxy struct {
	l  net.Listener
	to string

	mu     sync.Mutex
	frozen chan struct{} // closed by Freeze for the connections of its time
}

func newProxy(t testing.TB, to string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{l: l, to: to, frozen: make(chan struct{})}
	var wg sync.WaitGroup
	var conns []net.Conn
	var connsMu sync.Mutex
	t.Cleanup(func() {
		l.Close()
		connsMu.Lock()
		for _, c := range conns {
			c.Close()
		}
		connsMu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", to)
			if err != nil {
				c.Close()
				continue
			}
			connsMu.Lock()
			conns = append(conns, c, s)
			connsMu.Unlock()
			p.mu.Lock()
			frozen := p.frozen
			p.mu.Unlock()
			wg.Go(func() { relay(s, c, frozen) })
			wg.Go(func() { relay(c, s, frozen) })
		}
	})
	return p
}

// relay copies from src to dst until either fails or frozen is closed,
// then holds both open without a byte more.
func relay(dst, src net.Conn, frozen chan struct{}) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-frozen:
			return // silent from now on; the cleanup closes both
		default:
		}
		if n > 0 {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				return
			}
			dst.Close()
			return
		}
	}
}

func (p *proxy) Addr() string { return p.l.Addr().String() }

// Freeze silences every connection open now.
func (p *proxy) Freeze() {
	p.mu.Lock()
	close(p.frozen)
	p.frozen = make(chan struct{})
	p.mu.Unlock()
}
