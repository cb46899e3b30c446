package sipgoban

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/sipban/sipban/ban"
)

// ErrBanned is what a connection of a Listener returns from Read once its
// source is banned; the connection must then be closed. It wraps net.ErrClosed, which sipgo takes for a
// connection closed, not a read error to log.
var ErrBanned = fmt.Errorf("sipgoban: source banned: %w", net.ErrClosed)

// Listener returns l with the connections of banned sources cut: Accept
// closes a connection from a banned source at once and waits for the next,
// and a connection whose source is banned while it is open fails its next
// read with ErrBanned, on which sipgo closes it, before the bytes read
// reach sipgo. Give it to sipgo's
// ServeTCP, or wrapped in tls.NewListener to ServeTLS, so that a banned
// source costs no TLS handshake either:
//
//	srv.ServeTLS(tls.NewListener(sipgoban.Listener(l, g), conf))
//
// Connections without an IP address (not TCP) are passed unchecked. It
// starts no goroutine, and is safe for concurrent use as l is.
func Listener(l net.Listener, g *ban.Guard) net.Listener { return NewFilter(g).Listener(l) }

type listener struct {
	net.Listener
	f *Filter
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ap, ok := addrPort(c.RemoteAddr())
		if !ok {
			return c, nil
		}
		if l.f.g.Banned(ap.Addr()) {
			c.Close()
			l.f.cut.Add(1)
			continue // an error would stop sipgo's accept loop
		}
		return &conn{Conn: c, f: l.f, addr: ap.Addr()}, nil
	}
}

// conn is a connection of a Listener.
type conn struct {
	net.Conn
	f    *Filter
	addr netip.Addr
}

// Read checks after reading, not before: a read blocks, and the ban may
// come while it waits. It leaves closing to its reader (sipgo closes a
// connection whose read fails), which would fail to close it twice.
func (c *conn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 && c.f.g.Banned(c.addr) {
		c.f.drop(n, true)
		return 0, ErrBanned
	}
	return n, err
}
