package sipgoban

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/detect"
	"github.com/sipban/sipban/internal/syncbuf"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// unparseable returns the n-th of a series of 1 KiB requests sipgo cannot
// parse: a bad CSeq.
func unparseable(n int) []byte {
	s := strings.Replace(register, "CSeq: 2 REGISTER", fmt.Sprintf("CSeq: %d", n), 1)
	return []byte(strings.Replace(s, "Content-Length: 0", "X-Padding: "+strings.Repeat("p", 600)+"\r\nContent-Length: 0", 1))
}

// sipgoLogger logs as sipgo v1.7.2's UDP transport does: its logger is the
// transport layer's, With a caller twice; a parse error is one Error record
// with the error and the whole datagram (transport_udp.go parseAndHandle).
func sipgoLogger(h slog.Handler) func(data []byte) {
	log := slog.New(h).With("caller", "TransportLayer").With("caller", "Transport<UDP>")
	return func(data []byte) {
		if _, err := sip.ParseMessage(data); err != nil {
			log.Error("failed to parse", "data", string(data), "error", err)
		}
	}
}

func TestLogHandlerBounds(t *testing.T) {
	var plain, bounded bytes.Buffer
	clock := &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	h := NewLogHandler(slog.NewTextHandler(&bounded, nil), &LogOptions{Every: time.Minute, Now: clock.Now})
	logBounded, logPlain := sipgoLogger(h), sipgoLogger(slog.NewTextHandler(&plain, nil))
	for i := range 300 {
		logBounded(unparseable(i))
		logPlain(unparseable(i))
		clock.Add(100 * time.Millisecond) // 30 s in all: within one interval
	}
	t.Logf("300 unparseable datagrams: %d bytes of log from sipgo, %d through LogHandler", plain.Len(), bounded.Len())
	assert.Greater(t, plain.Len(), 300*1024)
	assert.Less(t, bounded.Len(), 2048)
	lines := strings.Split(strings.TrimSpace(bounded.String()), "\n")
	require.Len(t, lines, 1)
	assert.Contains(t, lines[0], `msg="sipgo failed to parse messages"`)
	assert.Contains(t, lines[0], "caller=Transport<UDP> count=1 ")
	assert.NotContains(t, lines[0], "pppp", "no payload")

	clock.Add(time.Minute)
	logBounded(unparseable(300))
	lines = strings.Split(strings.TrimSpace(bounded.String()), "\n")
	require.Len(t, lines, 2)
	assert.Contains(t, lines[1], "count=300 ", "the 299 held back and this one")

	// Other records pass unchanged, and a "failed to parse" without data.
	log := slog.New(h)
	log.Warn("failed to parse", "error", "x")
	log.Info("something else", "data", "kept")
	lines = strings.Split(strings.TrimSpace(bounded.String()), "\n")
	require.Len(t, lines, 4)
	assert.Contains(t, lines[2], `msg="failed to parse" error=x`)
	assert.Contains(t, lines[3], `msg="something else" data=kept`)
}

func TestCut(t *testing.T) {
	for _, tt := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"abcdef", 3, "abc…"},
		{"aé", 2, "a…"}, // no half rune
	} {
		assert.Equal(t, tt.want, cut(tt.in, tt.n), tt.in)
	}
}

// serveUDP runs a sipgo UDP server on loopback with the given transport
// options and returns its address and a channel told of each OPTIONS it
// answers.
func serveUDP(t *testing.T, opts ...sip.TransportLayerOption) (string, <-chan struct{}) {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgentTransportLayerOptions(opts...))
	require.NoError(t, err)
	srv, err := sipgo.NewServer(ua)
	require.NoError(t, err)
	answered := make(chan struct{}, 1)
	srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		answered <- struct{}{}
	})
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.ServeUDP(conn) }()
	t.Cleanup(func() { conn.Close(); ua.Close() })
	return conn.LocalAddr().String(), answered
}

// sendBatches sends n datagrams from from, in batches of 30 each followed by
// an OPTIONS from sync: sipgo's read loop answers it only after the batch,
// which keeps the socket buffer from overflowing and tells the test when
// every datagram is read.
func sendBatches(t *testing.T, addr string, from, sync *net.UDPAddr, n int, datagram func(int) []byte, answered <-chan struct{}) {
	t.Helper()
	raddr, err := net.ResolveUDPAddr("udp", addr)
	require.NoError(t, err)
	c, err := net.DialUDP("udp", from, raddr)
	require.NoError(t, err)
	defer c.Close()
	s, err := net.DialUDP("udp", sync, raddr)
	require.NoError(t, err)
	defer s.Close()
	for batch := 0; batch*30 < n; batch++ {
		for i := batch * 30; i < min(n, batch*30+30); i++ {
			_, err := c.Write(datagram(i))
			require.NoError(t, err)
		}
		opts := fmt.Sprintf("OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bKsync%d\r\n"+
			"From: <sip:t@x>;tag=1\r\nTo: <sip:t@x>\r\nCall-ID: sync%d\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
			addr, s.LocalAddr(), batch, batch)
		_, err := s.Write([]byte(opts))
		require.NoError(t, err)
		select {
		case <-answered:
		case <-time.After(10 * time.Second):
			t.Fatalf("batch %d: OPTIONS not answered", batch)
		}
	}
}

// TestLogHandlerSipgo runs a real sipgo UDP server without the read filter
// and sends it 300 unparseable datagrams: sipgo's own logging of them,
// through LogHandler, stays under 2 KB.
func TestLogHandlerSipgo(t *testing.T) {
	var out syncbuf.Buffer
	clock := &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	h := NewLogHandler(slog.NewTextHandler(&out, nil), &LogOptions{Now: clock.Now})
	addr, answered := serveUDP(t, sip.WithTransportLayerLogger(slog.New(h)))
	sendBatches(t, addr, nil, nil, 300, unparseable, answered)
	t.Logf("sipgo's log for 300 unparseable datagrams through LogHandler: %d bytes: %s", len(out.String()), out.String())
	assert.Less(t, len(out.String()), 2048)
	assert.Equal(t, 1, strings.Count(out.String(), "sipgo failed to parse messages"))
	assert.NotContains(t, out.String(), "pppp")
}

// TestFilterSipgo: with the read filter, 300 requests sipgo cannot parse
// (every kind in testdata/refused, in turn) ban their source and never
// reach sipgo's parser or its log.
func TestFilterSipgo(t *testing.T) {
	var out syncbuf.Buffer
	g := newGuard(t)
	addr, answered := serveUDP(t, TransportOption(g), sip.WithTransportLayerLogger(slog.New(slog.NewTextHandler(&out, nil))))
	var refused [][]byte
	for name, b := range files(t, "testdata/refused/*.sip") {
		if !strings.HasPrefix(name, "response") {
			refused = append(refused, b)
		}
	}
	attacker := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
	sendBatches(t, addr, attacker, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)}, 300, func(i int) []byte { return refused[i%len(refused)] }, answered)
	require.True(t, g.Banned(netip.MustParseAddr("127.0.0.1")))
	assert.Equal(t, detect.Signalling, g.Bans()[0].Cause)
	assert.NotContains(t, out.String(), "failed to parse")
}
