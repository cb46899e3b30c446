package sipgoban

import (
	"net"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// oneConn is a listener that accepts one connection, from 198.51.100.7.
type oneConn struct {
	net.Listener
	c net.Conn
}

func (l *oneConn) Accept() (net.Conn, error) {
	if l.c == nil {
		return nil, net.ErrClosed
	}
	c := l.c
	l.c = nil
	return c, nil
}

type fromAddr struct {
	endless
	addr net.Addr
}

func (c fromAddr) RemoteAddr() net.Addr { return c.addr }
func (fromAddr) Close() error           { return nil }

func TestFilterCounts(t *testing.T) {
	g := newGuard(t)
	banAddr(t, g, "198.51.100.7")
	f := NewFilter(g)
	rf := f.ReadFilter()
	udp := sip.TransportReadProps{Transport: "udp", RemoteAddr: &net.UDPAddr{IP: net.ParseIP("198.51.100.7"), Port: 5060}}
	out, err := rf(udp, []byte("REGISTER sip:x SIP/2.0\r\n\r\n"))
	require.NoError(t, err)
	assert.Nil(t, out)
	clean := udp
	clean.RemoteAddr = &net.UDPAddr{IP: net.ParseIP("192.0.2.1"), Port: 5060}
	_, _ = rf(clean, []byte("OPTIONS sip:x SIP/2.0\r\n\r\n")) // not banned: not counted
	tcp := sip.TransportReadProps{Transport: "tcp", RemoteAddr: &net.TCPAddr{IP: net.ParseIP("198.51.100.7"), Port: 40000}}
	_, err = rf(tcp, []byte("0123456789"))
	require.ErrorIs(t, err, ErrBanned)
	assert.Equal(t, FilterStats{Dropped: 2, Bytes: 36, Cut: 1}, f.Stats())

	l := f.Listener(&oneConn{c: fromAddr{addr: tcp.RemoteAddr}})
	_, err = l.Accept()
	require.ErrorIs(t, err, net.ErrClosed, "the banned connection is closed and the next awaited")
	assert.Equal(t, uint64(2), f.Stats().Cut)

	c := &conn{Conn: endless{}, f: f, addr: udp.RemoteAddr.(*net.UDPAddr).AddrPort().Addr()}
	_, err = c.Read(make([]byte, 100))
	require.ErrorIs(t, err, ErrBanned)
	assert.Equal(t, FilterStats{Dropped: 3, Bytes: 136, Cut: 3}, f.Stats())
}
