package sipgoban

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/bantest"
)

// streamServer is a sipgo server on loopback TCP or TLS, behind Listener
// or not, answering OPTIONS 200 through Wrap.
type streamServer struct {
	g         *ban.Guard
	addr      string
	transport string // "tcp" or "tls"

	mu     sync.Mutex
	events []string // "transport proven" of each request a handler saw
}

func serveStream(t *testing.T, transport string, listener bool) *streamServer {
	t.Helper()
	s := &streamServer{g: newGuard(t), transport: transport}
	discard := slog.New(slog.DiscardHandler)
	ua, err := sipgo.NewUA(sipgo.WithUserAgentTransportLayerOptions(
		TransportOption(s.g), sip.WithTransportLayerLogger(discard)))
	require.NoError(t, err)
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(discard))
	require.NoError(t, err)
	srv.OnOptions(Wrap(s.g, func(req *sip.Request, tx sip.ServerTransaction) {
		ev := Event(req, 0)
		s.mu.Lock()
		s.events = append(s.events, fmt.Sprint(ev.Transport, " ", ev.Proven))
		s.mu.Unlock()
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s.addr = l.Addr().String()
	done := make(chan error, 1)
	served := l
	if listener {
		served = Listener(l, s.g)
	}
	if transport == "tls" {
		cert, err := bantest.SelfSigned("127.0.0.1")
		require.NoError(t, err)
		tl := tls.NewListener(served, &tls.Config{Certificates: []tls.Certificate{cert}})
		go func() { done <- srv.ServeTLS(tl) }()
	} else {
		go func() { done <- srv.ServeTCP(served) }()
	}
	t.Cleanup(func() {
		l.Close()
		<-done
		ua.Close()
	})
	return s
}

// handled returns how many requests reached the handler.
func (s *streamServer) handled() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.events)
}

// dial connects from the loopback address local.
func (s *streamServer) dial(t *testing.T, local string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: time.Second}
	c, err := d.Dial("tcp", s.addr)
	require.NoError(t, err)
	if s.transport == "tls" {
		c = tls.Client(c, &tls.Config{InsecureSkipVerify: true})
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// options sends an OPTIONS on c and returns the status line of the answer,
// or the error that cut the connection.
func options(c net.Conn, seq int) (string, error) {
	local := c.LocalAddr().String()
	msg := fmt.Sprintf("OPTIONS sip:127.0.0.1 SIP/2.0\r\n"+
		"Via: SIP/2.0/TCP %s;branch=z9hG4bK-%d;rport\r\n"+
		"From: <sip:probe@127.0.0.1>;tag=%d\r\nTo: <sip:127.0.0.1>\r\n"+
		"Call-ID: call-%d-%s\r\nCSeq: %d OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		local, seq, seq, seq, local, seq)
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

// banAddr bans addr as the read filter does a source of junk.
func banAddr(t testing.TB, g *ban.Guard, addr string) {
	t.Helper()
	props := sip.TransportReadProps{Transport: "udp", RemoteAddr: &net.UDPAddr{IP: net.ParseIP(addr), Port: 5060}}
	for range 10 {
		_, err := ReadFilter(g)(props, []byte("\x16\x03\x01 junk"))
		require.NoError(t, err)
	}
	require.True(t, g.Banned(netip.MustParseAddr(addr)))
}

func TestListener(t *testing.T) {
	for _, transport := range []string{"tcp", "tls"} {
		t.Run(transport, func(t *testing.T) {
			s := serveStream(t, transport, true)

			clean := s.dial(t, "127.0.0.2")
			st, err := options(clean, 1)
			require.NoError(t, err)
			assert.Equal(t, "SIP/2.0 200 OK", st)
			assert.Equal(t, []string{transport + " true"}, s.events, "a connection proves its source")

			banAddr(t, s.g, "127.0.0.3")
			_, err = options(s.dial(t, "127.0.0.3"), 2)
			requireCut(t, err, "a banned source's connection is cut at accept")

			// Banned mid-connection: cut at its next message.
			later := s.dial(t, "127.0.0.4")
			st, err = options(later, 3)
			require.NoError(t, err)
			assert.Equal(t, "SIP/2.0 200 OK", st)
			banAddr(t, s.g, "127.0.0.4")
			_, err = options(later, 4)
			requireCut(t, err, "banned mid-connection")
			assert.Equal(t, 2, s.handled(), "nothing from a banned source reaches the handler")

			st, err = options(clean, 5)
			require.NoError(t, err)
			assert.Equal(t, "SIP/2.0 200 OK", st, "the clean connection is still served")
		})
	}
}

// TestReadFilterCutsStream: without Listener, the read filter alone cuts a
// connection whose source is banned, at its next message.
func TestReadFilterCutsStream(t *testing.T) {
	for _, transport := range []string{"tcp", "tls"} {
		t.Run(transport, func(t *testing.T) {
			s := serveStream(t, transport, false)
			c := s.dial(t, "127.0.0.7")
			st, err := options(c, 1)
			require.NoError(t, err)
			assert.Equal(t, "SIP/2.0 200 OK", st)
			banAddr(t, s.g, "127.0.0.7")
			_, err = options(c, 2)
			requireCut(t, err, "banned mid-connection")
			assert.Equal(t, 1, s.handled())
		})
	}
}

// TestListenerFlood: a banned source's connections are closed as they come,
// and leave no goroutine or file descriptor behind.
func TestListenerFlood(t *testing.T) {
	for _, transport := range []string{"tcp", "tls"} {
		t.Run(transport, func(t *testing.T) {
			s := serveStream(t, transport, true)
			banAddr(t, s.g, "127.0.0.5")
			// One served connection first, so that sipgo's lazily started
			// goroutines are counted in before.
			st, err := options(s.dial(t, "127.0.0.6"), 1)
			require.NoError(t, err)
			require.Equal(t, "SIP/2.0 200 OK", st)
			goroutines, fds := runtime.NumGoroutine(), openFDs(t)

			const flood = 300
			for i := range flood {
				d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.5")}, Timeout: time.Second}
				c, err := d.Dial("tcp", s.addr)
				require.NoError(t, err)
				if transport == "tls" {
					c = tls.Client(c, &tls.Config{InsecureSkipVerify: true})
				}
				_, err = options(c, i)
				c.Close()
				requireCut(t, err, "connection %d of the flood", i)
			}
			assert.Equal(t, 1, s.handled())
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = bantest.WaitUntil(ctx, func() bool {
				return runtime.NumGoroutine() <= goroutines && openFDs(t) <= fds
			})
			assert.LessOrEqual(t, runtime.NumGoroutine(), goroutines, "goroutines after %d banned connections", flood)
			assert.LessOrEqual(t, openFDs(t), fds, "file descriptors after %d banned connections", flood)
		})
	}
}

// requireCut checks that err is the connection cut, not a wait for an
// answer that never came.
func requireCut(t *testing.T, err error, msgAndArgs ...any) {
	t.Helper()
	require.Error(t, err, msgAndArgs...)
	require.NotErrorIs(t, err, os.ErrDeadlineExceeded, msgAndArgs...)
}

func openFDs(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(fds)
}

// TestLogHandlerDropsBans: sipgo's record of a connection ReadFilter cut is
// dropped; other read filter errors pass.
func TestLogHandlerDropsBans(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewLogHandler(slog.NewTextHandler(&buf, nil), nil))
	log.Error(readFilterMsg, "raddr", "192.0.2.1:5060", "error", ErrBanned)
	assert.Empty(t, buf.String())
	log.Error(readFilterMsg, "raddr", "192.0.2.1:5060", "error", errors.New("another filter's"))
	assert.Contains(t, buf.String(), "another filter's")
}

// endless is a connection whose reads fill the buffer at once.
type endless struct{ net.Conn }

func (endless) Read(b []byte) (int, error) { return len(b), nil }

// BenchmarkListenerRead: what Listener adds to each read of a connection
// from a source that is not banned, with a thousand bans in place.
func BenchmarkListenerRead(b *testing.B) {
	g := newGuard(b)
	for i := range 1000 {
		banAddr(b, g, netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)}).String())
	}
	c := &conn{Conn: endless{}, f: NewFilter(g), addr: netip.MustParseAddr("192.0.2.1")}
	buf := make([]byte, 1500)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Read(buf); err != nil {
			b.Fatal(err)
		}
	}
}
