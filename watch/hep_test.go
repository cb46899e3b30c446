package watch_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/detect"
	"github.com/sipban/sipban/internal/syncbuf"
	"github.com/sipban/sipban/watch"
)

// chunk is a HEPv3 chunk: vendor 0 is the generic one.
type chunk struct {
	vendor, typ uint16
	body        []byte
}

func u8(typ uint16, v byte) chunk { return chunk{0, typ, []byte{v}} }
func u16(typ uint16, v uint16) chunk {
	return chunk{0, typ, binary.BigEndian.AppendUint16(nil, v)}
}
func u32(typ uint16, v uint32) chunk {
	return chunk{0, typ, binary.BigEndian.AppendUint32(nil, v)}
}

// hep3 packs chunks as one HEPv3 packet.
func hep3(chunks ...chunk) []byte {
	b := []byte("HEP3\x00\x00")
	for _, c := range chunks {
		b = binary.BigEndian.AppendUint16(b, c.vendor)
		b = binary.BigEndian.AppendUint16(b, c.typ)
		b = binary.BigEndian.AppendUint16(b, uint16(6+len(c.body)))
		b = append(b, c.body...)
	}
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)))
	return b
}

// chunksOf are the chunks Kamailio's siptrace sends for p, in its order,
// IP protocol proto.
func chunksOf(p watch.Packet, proto byte) []chunk {
	family, src, dst := byte(2), uint16(3), uint16(4)
	if p.Src.Addr().Is6() {
		family, src, dst = 10, 5, 6
	}
	return []chunk{
		u8(1, family), u8(2, proto),
		{0, src, p.Src.Addr().AsSlice()}, {0, dst, p.Dst.Addr().AsSlice()},
		u16(7, p.Src.Port()), u16(8, p.Dst.Port()),
		u32(9, uint32(p.Time.Unix())), u32(10, uint32(p.Time.Nanosecond()/1000)),
		u8(11, 1), u32(12, 2001),
		{0, 15, p.Payload},
	}
}

// hepOf is p as a HEPv3 packet.
func hepOf(p watch.Packet) []byte {
	proto := byte(17)
	if p.Transport == "tcp" {
		proto = 6
	}
	return hep3(chunksOf(p, proto)...)
}

// hep2 is p as HEPv1 or HEPv2 (version 1 or 2), as Kamailio sends it.
func hep2(version byte, p watch.Packet, proto byte) []byte {
	hl := byte(16)
	if p.Src.Addr().Is6() {
		hl = 40
	}
	b := []byte{version, hl, 2, proto}
	if hl == 40 {
		b[2] = 10
	}
	b = binary.BigEndian.AppendUint16(b, p.Src.Port())
	b = binary.BigEndian.AppendUint16(b, p.Dst.Port())
	b = append(b, p.Src.Addr().AsSlice()...)
	b = append(b, p.Dst.Addr().AsSlice()...)
	if version == 2 {
		b = binary.LittleEndian.AppendUint32(b, uint32(p.Time.Unix()))
		b = binary.LittleEndian.AppendUint32(b, uint32(p.Time.Nanosecond()/1000))
		b = append(b, 0xd1, 0x07, 0, 0) // capture ID, padding
	}
	return append(b, p.Payload...)
}

// without drops the chunks of the given types.
func without(cs []chunk, types ...uint16) []chunk {
	var out []chunk
	for _, c := range cs {
		drop := false
		for _, t := range types {
			drop = drop || c.typ == t
		}
		if !drop {
			out = append(out, c)
		}
	}
	return out
}

func with(cs []chunk, typ uint16, body []byte) []chunk {
	out := without(cs, typ)
	return append(out, chunk{0, typ, body})
}

var (
	sip     = []byte(register("h1", 1, "z9hG4bK-h1", false))
	sipTime = t0.Add(1500 * time.Microsecond)
	phone6  = netip.MustParseAddrPort("[2001:db8::7]:5062")
	server6 = netip.MustParseAddrPort("[2001:db8::10]:5060")
	udp4    = watch.Packet{Time: sipTime, Src: phone, Dst: server, Transport: "udp", Payload: sip}
	tcp6    = watch.Packet{Time: sipTime, Src: phone6, Dst: server6, Transport: "tcp", Payload: sip}
)

func TestHEPDecode(t *testing.T) {
	now := t0.Add(time.Hour)
	mapped := udp4
	mapped.Src = netip.AddrPortFrom(netip.AddrFrom16(phone.Addr().As16()), phone.Port())
	mapped.Dst = netip.AddrPortFrom(netip.AddrFrom16(server.Addr().As16()), server.Port())
	cs := chunksOf(udp4, 17)
	reversed := make([]chunk, len(cs))
	for i, c := range cs {
		reversed[len(cs)-1-i] = c
	}
	untimed := udp4
	untimed.Time = now
	tls := udp4
	tls.Transport = "tcp"
	tests := []struct {
		name string
		in   []byte
		want watch.Packet
	}{
		{"v3 ipv4 udp", hepOf(udp4), udp4},
		{"v3 ipv6 tcp", hepOf(tcp6), tcp6},
		{"v3 v4-mapped ipv6 reads as ipv4", hep3(chunksOf(mapped, 17)...), udp4},
		{"v3 protocol 22, Kamailio's TLS and WebSocket, reads as tcp", hep3(chunksOf(udp4, 22)...), tls},
		{"v3 no IP protocol reads as udp", hep3(without(cs, 2)...), udp4},
		{"v3 no family chunk", hep3(without(cs, 1)...), udp4},
		{"v3 no timestamp is timed now", hep3(without(cs, 9, 10)...), untimed},
		{"v3 chunks in any order", hep3(reversed...), udp4},
		{"v3 unknown and vendor chunks are skipped", hep3(append([]chunk{
			{0, 99, []byte("what")}, {0x0002, 15, []byte("a vendor's payload")}, {0x0003, 3, []byte{1}},
			{0, 17, []byte("correlation-id")}, {0, 13, []byte{0, 0}}, {0, 12, nil},
		}, cs...)...), udp4},
		{"v3 empty payload", hep3(with(cs, 15, nil)...), watch.Packet{Time: sipTime, Src: phone, Dst: server, Transport: "udp", Payload: []byte{}}},
		{"v2 ipv4", hep2(2, udp4, 17), udp4},
		{"v2 ipv6 tcp", hep2(2, tcp6, 6), tcp6},
		{"v1 ipv4, timed now", hep2(1, udp4, 17), untimed},
	}
	var d watch.HEPDecoder
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := d.Decode(now, tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want.Src, p.Src)
			assert.Equal(t, tt.want.Dst, p.Dst)
			assert.Equal(t, tt.want.Transport, p.Transport)
			assert.Equal(t, tt.want.Payload, p.Payload)
			assert.True(t, tt.want.Time.Equal(p.Time), "time %v, want %v", p.Time, tt.want.Time)
			if len(p.Payload) > 0 {
				assert.True(t, within(tt.in, p.Payload), "payload aliases the packet")
			}
		})
	}
}

func TestHEPDecodeRefuses(t *testing.T) {
	cs := chunksOf(udp4, 17)
	good := hepOf(udp4)
	lying := bytes.Clone(good)
	binary.BigEndian.PutUint16(lying[4:], uint16(len(good)+1))
	short := bytes.Clone(good)
	binary.BigEndian.PutUint16(short[4:], uint16(len(good)-1))
	cut := hep3(cs...)
	cut = append(cut, 0, 0, 0)
	binary.BigEndian.PutUint16(cut[4:], uint16(len(cut)))
	tiny := hep3(cs...)
	binary.BigEndian.PutUint16(tiny[6+4:], 4) // the first chunk's length
	long := hep3(cs...)
	binary.BigEndian.PutUint16(long[6+4:], 60000)
	badV2 := hep2(2, udp4, 17)
	badV2[1] = 20
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, watch.ErrHEPVersion},
		{"plain SIP", sip, watch.ErrHEPVersion},
		{"wrong magic", append([]byte("HEP2"), good[4:]...), watch.ErrHEPVersion},
		{"version 3 without magic", append([]byte{3}, good[1:]...), watch.ErrHEPVersion},
		{"header cut", good[:5], watch.ErrHEPTruncated},
		{"cut short of its total length", good[:len(good)-1], watch.ErrHEPTruncated},
		{"total length past the end", lying, watch.ErrHEPTruncated},
		{"total length short of the end", short, watch.ErrHEPLength},
		{"total length below the header", []byte("HEP3\x00\x05"), watch.ErrHEPLength},
		{"chunk header cut", cut, watch.ErrHEPTruncated},
		{"chunk length below the chunk header", tiny, watch.ErrHEPLength},
		{"chunk length past the end", long, watch.ErrHEPTruncated},
		{"IPv4 address of 5 bytes", hep3(with(cs, 3, []byte{192, 0, 2, 7, 0})...), watch.ErrHEPLength},
		{"port of 1 byte", hep3(with(cs, 7, []byte{1})...), watch.ErrHEPLength},
		{"seconds of 8 bytes", hep3(with(cs, 9, make([]byte, 8))...), watch.ErrHEPLength},
		{"no destination", hep3(without(cs, 4)...), watch.ErrHEPIncomplete},
		{"IPv4 source, IPv6 destination", hep3(with(without(cs, 4), 6, server6.Addr().AsSlice())...), watch.ErrHEPIncomplete},
		{"no source port", hep3(without(cs, 7)...), watch.ErrHEPIncomplete},
		{"no payload", hep3(without(cs, 15)...), watch.ErrHEPIncomplete},
		{"RTCP", hep3(with(cs, 11, []byte{5})...), watch.ErrHEPUnsupported},
		{"a log line (Kamailio's hlog)", hep3(with(cs, 11, []byte{100})...), watch.ErrHEPUnsupported},
		{"SCTP", hep3(with(cs, 2, []byte{132})...), watch.ErrHEPUnsupported},
		{"compressed payload", hep3(with(without(cs, 15), 16, []byte{0x1f, 0x8b})...), watch.ErrHEPUnsupported},
		{"v2 cut in its addresses", hep2(2, udp4, 17)[:14], watch.ErrHEPTruncated},
		{"v2 header of 7 bytes", []byte{2, 16, 2, 17, 0, 1, 0}, watch.ErrHEPTruncated},
		{"v2 header length not 16 or 40", badV2, watch.ErrHEPLength},
		{"v2 SCTP", hep2(2, udp4, 132), watch.ErrHEPUnsupported},
	}
	var d watch.HEPDecoder
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := d.Decode(t0, tt.in)
			assert.Nil(t, p)
			assert.ErrorIs(t, err, tt.want)
		})
	}
}

func TestHEPAuthKey(t *testing.T) {
	cs := chunksOf(udp4, 17)
	d := watch.HEPDecoder{AuthKey: "s3cret"}
	for _, tt := range []struct {
		name string
		in   []byte
		want error
	}{
		{"the key", hep3(with(cs, 14, []byte("s3cret"))...), nil},
		{"another key", hep3(with(cs, 14, []byte("s3creT"))...), watch.ErrHEPAuth},
		{"a longer key", hep3(with(cs, 14, []byte("s3cret!"))...), watch.ErrHEPAuth},
		{"the key in a vendor's chunk", hep3(append(cs, chunk{7, 14, []byte("s3cret")})...), watch.ErrHEPAuth},
		{"no key", hep3(cs...), watch.ErrHEPAuth},
		{"HEPv2 has no key", hep2(2, udp4, 17), watch.ErrHEPAuth},
		{"the key on RTCP: refused for the key first", hep3(with(cs, 11, []byte{5})...), watch.ErrHEPAuth},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := d.Decode(t0, tt.in)
			if tt.want == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tt.want)
			}
		})
	}
}

// TestHEPDecodeAllocs: decoding allocates nothing, refusals included.
func TestHEPDecodeAllocs(t *testing.T) {
	d := watch.HEPDecoder{AuthKey: "s3cret"}
	keyed := hep3(append(chunksOf(tcp6, 6), chunk{0, 14, []byte("s3cret")})...)
	refused := [][]byte{hepOf(udp4), []byte("HEP3\x00\x05"), hep2(2, udp4, 17), sip}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := d.Decode(t0, keyed); err != nil {
			t.Fatal(err)
		}
		for _, b := range refused {
			if _, err := d.Decode(t0, b); err == nil {
				t.Fatal("decoded")
			}
		}
	})
	assert.Zero(t, allocs)
}

// FuzzHEP: any input decodes to an error or to a whole packet whose payload
// lies inside the input; a HEPv3 one is exactly as long as it says, and
// encoding what was decoded decodes to the same packet.
func FuzzHEP(f *testing.F) {
	cs := chunksOf(udp4, 17)
	for _, b := range [][]byte{
		hepOf(udp4), hepOf(tcp6), hep2(2, udp4, 17), hep2(1, tcp6, 6), hep2(2, tcp6, 22),
		hep3(without(cs, 9, 10)...), hep3(append(cs, chunk{0x0002, 15, []byte("x")})...),
		hep3(with(cs, 11, []byte{5})...), hepOf(udp4)[:20], []byte("HEP3\x00\x06"),
	} {
		f.Add(b)
	}
	var d, again watch.HEPDecoder
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := d.Decode(t0, b)
		if err != nil {
			if p != nil {
				t.Fatal("a packet and an error")
			}
			return
		}
		if !p.Src.IsValid() || !p.Dst.IsValid() || (p.Transport != "udp" && p.Transport != "tcp") {
			t.Fatalf("incomplete packet %+v", p)
		}
		if !within(b, p.Payload) {
			t.Fatal("payload outside the input")
		}
		if string(b[:min(4, len(b))]) == "HEP3" && int(binary.BigEndian.Uint16(b[4:])) != len(b) {
			t.Fatalf("%d bytes decoded as a packet of %d", len(b), binary.BigEndian.Uint16(b[4:]))
		}
		enc, err := watch.AppendHEP(nil, p)
		if err != nil {
			t.Fatalf("encode %+v: %v", p, err)
		}
		q, err := again.Decode(t0, enc)
		if err != nil {
			t.Fatalf("re-encoded %+v: %v", p, err)
		}
		if q.Src != p.Src || q.Dst != p.Dst || q.Transport != p.Transport || !bytes.Equal(q.Payload, p.Payload) {
			t.Fatalf("decoded %+v, re-encoded and decoded %+v", p, q)
		}
		if p.Time.Unix() >= 0 && p.Time.Unix() <= math.MaxUint32 && !q.Time.Equal(p.Time) {
			t.Fatalf("time %v, re-encoded %v", p.Time, q.Time)
		}
	})
}

// TestAppendHEP: the encoder writes what Kamailio does, but the capture ID.
func TestAppendHEP(t *testing.T) {
	for _, p := range []watch.Packet{udp4, tcp6} {
		proto := map[string]byte{"udp": 17, "tcp": 6}[p.Transport]
		b, err := watch.AppendHEP([]byte("x"), &p)
		require.NoError(t, err)
		assert.Equal(t, append([]byte("x"), hep3(without(chunksOf(p, proto), 12)...)...), b)
	}
	mixed := watch.Packet{Time: t0, Src: phone, Dst: server6, Transport: "udp", Payload: sip}
	b, err := watch.AppendHEP(nil, &mixed)
	require.NoError(t, err)
	var d watch.HEPDecoder
	got, err := d.Decode(t0, b)
	require.NoError(t, err, "the IPv4 address as IPv4-mapped IPv6")
	assert.Equal(t, phone, got.Src)
	assert.Equal(t, server6, got.Dst)

	big := udp4
	big.Payload = make([]byte, 0xffff-89) // 89 bytes of header and chunk headers
	_, err = watch.AppendHEP(nil, &big)
	require.NoError(t, err)
	big.Payload = make([]byte, 0xffff-88)
	_, err = watch.AppendHEP(nil, &big)
	assert.ErrorIs(t, err, watch.ErrHEPTooLong)

	buf := make([]byte, 0, 1024)
	assert.Zero(t, testing.AllocsPerRun(100, func() { _, _ = watch.AppendHEP(buf, &tcp6) }))
}

// BenchmarkHEP decodes HEPv3 packets and pairs what they carry: the work
// of watch fed by HEP, but the socket reads and the Guard; and the decoding
// alone.
func BenchmarkHEP(b *testing.B) {
	pkts := traffic(b, 4)
	heps := make([][]byte, len(pkts))
	for i, p := range pkts {
		heps[i] = hepOf(p)
	}
	for _, pair := range []bool{true, false} {
		b.Run(map[bool]string{true: "decode+pair", false: "decode"}[pair], func(b *testing.B) {
			p, err := watch.NewPairer(watch.Options{})
			if err != nil {
				b.Fatal(err)
			}
			var d watch.HEPDecoder
			events := 0
			emit := func(*detect.Event) { events++ }
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				pkt, err := d.Decode(t0, heps[i%len(heps)])
				if err != nil {
					b.Fatal(err)
				}
				if pair {
					p.Packet(pkt, emit)
				}
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			if pair && events == 0 {
				b.Fatal("nothing paired")
			}
		})
	}
}

// BenchmarkHEPServe sends HEPv3 packets, one write each as Kamailio sends
// them, over a loopback TCP connection to a HEPServer: the socket reads,
// the framing and the decoding, no pairing.
func BenchmarkHEPServe(b *testing.B) {
	pkts := traffic(b, 1)
	heps := make([][]byte, len(pkts))
	for i, p := range pkts {
		heps[i] = hepOf(p)
	}
	s, err := watch.NewHEPServer(watch.HEPOptions{})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	n, all := 0, make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.Serve(ctx, nil, ln, func(*watch.Packet) error {
			if n++; n == b.N {
				close(all)
			}
			return nil
		})
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := c.Write(heps[i%len(heps)]); err != nil {
			b.Fatal(err)
		}
	}
	<-all
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		b.Fatal(err)
	}
}

// collect pairs packets and keeps copies of the events.
type collect struct {
	p      *watch.Pairer
	events []detect.Event
}

func newCollect(t *testing.T) *collect {
	p, err := watch.NewPairer(watch.Options{})
	require.NoError(t, err)
	return &collect{p: p}
}

func (c *collect) packet(p *watch.Packet) error {
	c.p.Packet(p, c.emit)
	return nil
}

func (c *collect) emit(ev *detect.Event) {
	e := *ev
	e.Time = e.Time.UTC()
	e.Method, e.Account, e.Target, e.UserAgent, e.CallID, e.Contact, e.Malformed =
		strings.Clone(e.Method), strings.Clone(e.Account), strings.Clone(e.Target), strings.Clone(e.UserAgent),
		strings.Clone(e.CallID), strings.Clone(e.Contact), strings.Clone(e.Malformed)
	c.events = append(c.events, e)
}

func (c *collect) done() []detect.Event {
	c.p.Expire(t0.AddDate(1, 0, 0), c.emit)
	return c.events
}

// hepServer serves HEP on loopback, UDP and TCP on one port, with opts,
// passing packets to fn; it returns the address and a func that stops the
// server and returns Serve's error.
func hepServer(t *testing.T, opts watch.HEPOptions, fn func(*watch.Packet) error) (*watch.HEPServer, netip.AddrPort, func() error) {
	t.Helper()
	s, err := watch.NewHEPServer(opts)
	require.NoError(t, err)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	ln, err := net.Listen("tcp", addr.String())
	require.NoError(t, err, "the TCP port of the UDP one")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, pc, ln, fn) }()
	stop := sync.OnceValue(func() error { cancel(); return <-done })
	t.Cleanup(func() { _ = stop() })
	return s, addr, stop
}

// send writes each packet to addr as HEP over network ("udp": a datagram
// each; "tcp": one stream).
func send(t *testing.T, network string, addr netip.AddrPort, heps ...[]byte) {
	t.Helper()
	c, err := net.Dial(network, addr.String())
	require.NoError(t, err)
	defer c.Close()
	for _, b := range heps {
		_, err := c.Write(b)
		require.NoError(t, err)
	}
}

// waitFor polls cond, which the server's goroutine makes true.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		require.True(t, time.Now().Before(deadline), "waiting for %s", what)
		time.Sleep(5 * time.Millisecond)
	}
}

// closedByServer checks that the server closes c: a read ends at once, with
// EOF, or with a reset when the server left data unread.
func closedByServer(t *testing.T, c net.Conn, why string) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	n, err := c.Read(make([]byte, 1))
	assert.Zero(t, n, why)
	if assert.Error(t, err, why) {
		assert.NotErrorIs(t, err, os.ErrDeadlineExceeded, why)
	}
}

// TestHEPSameEvents: a digest exchange that fails (REGISTER, 401 with a
// nonce, REGISTER answering it, 403) gives the same Events captured as it
// does mirrored over HEP, whichever transport the SIP and the HEP use.
func TestHEPSameEvents(t *testing.T) {
	for _, sipNet := range []string{"udp", "tcp"} {
		for _, hepNet := range []string{"udp", "tcp"} {
			t.Run("sip over "+sipNet+", hep over "+hepNet, func(t *testing.T) {
				r1 := register("same-1", 1, "z9hG4bK-s1", false)
				r2 := withNonce(register("same-1", 2, "z9hG4bK-s2", true), "4f1e")
				var pkts []watch.Packet
				var frames, heps [][]byte
				for i, m := range []struct {
					src, dst netip.AddrPort
					msg      string
				}{{phone, server, r1}, {server, phone, challenge(r1, 401, "4f1e")}, {phone, server, r2}, {server, phone, answer(r2, 403)}} {
					p := watch.Packet{Time: t0.Add(time.Duration(i) * time.Millisecond), Src: m.src, Dst: m.dst, Transport: sipNet, Payload: []byte(m.msg)}
					pkts = append(pkts, p)
					frames = append(frames, frame(t, layers.LinkTypeEthernet, sipNet, m.src, m.dst, p.Payload))
					heps = append(heps, hepOf(p))
				}
				captured := newCollect(t)
				require.NoError(t, watch.ReadFile(bytes.NewReader(pcapFile(t, layers.LinkTypeEthernet, frames...)), watch.NewDecoder(), captured.packet))

				mirrored := newCollect(t)
				s, addr, stop := hepServer(t, watch.HEPOptions{}, mirrored.packet)
				send(t, hepNet, addr, heps...)
				waitFor(t, "4 packets", func() bool { return s.Stats().Packets == 4 })
				require.ErrorIs(t, stop(), context.Canceled)

				want := captured.done()
				require.Len(t, want, 2)
				assert.Equal(t, 403, want[1].Status)
				assert.True(t, want[1].Credentials)
				assert.True(t, want[1].Proven, "by the nonce or the answered connection")
				assert.Equal(t, want, mirrored.done())
				assert.Equal(t, watch.HEPStats{Packets: 4, Conns: map[bool]int{true: 1}[hepNet == "tcp"]}, s.Stats())
			})
		}
	}
}

// TestHEPSameEventsCapture: examples/watch's capture of sipp (10
// registrations, 10 guesses) mirrored over HEP gives the same Events as
// read from the file.
func TestHEPSameEventsCapture(t *testing.T) {
	file, err := os.ReadFile(filepath.Join("..", "examples", "watch", "testdata", "guesser.pcapng"))
	require.NoError(t, err)
	captured := newCollect(t)
	var heps [][]byte
	require.NoError(t, watch.ReadFile(bytes.NewReader(file), watch.NewDecoder(), func(p *watch.Packet) error {
		p.Time = p.Time.Truncate(time.Microsecond) // as HEP carries it
		heps = append(heps, hepOf(*p))
		return captured.packet(p)
	}))
	mirrored := newCollect(t)
	s, addr, stop := hepServer(t, watch.HEPOptions{}, mirrored.packet)
	send(t, "tcp", addr, heps...)
	waitFor(t, "every packet", func() bool { return s.Stats().Packets == len(heps) })
	require.ErrorIs(t, stop(), context.Canceled)
	want := captured.done()
	assert.Len(t, want, 40)
	assert.Equal(t, want, mirrored.done())
}

// TestHEPServerRefuses: what cannot be read is counted and logged; on TCP a
// packet that cannot be framed closes its connection, and only that one.
func TestHEPServerRefuses(t *testing.T) {
	var logs syncbuf.Buffer
	got := 0
	s, addr, stop := hepServer(t, watch.HEPOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil)), LogEvery: time.Nanosecond},
		func(*watch.Packet) error { got++; return nil })
	good := hepOf(udp4)
	rtcp := hep3(with(chunksOf(udp4, 17), 11, []byte{5})...)
	noPayload := hep3(without(chunksOf(udp4, 17), 15)...)
	badMagic := append([]byte("HEP2"), good[4:]...)

	// UDP: each datagram stands alone.
	send(t, "udp", addr, []byte("junk"), rtcp, good)
	waitFor(t, "the good datagram", func() bool { return s.Stats().Packets == 1 })

	// TCP: a packet that is framed but incomplete is skipped, the next read;
	// a bad magic closes the connection.
	c, err := net.Dial("tcp", addr.String())
	require.NoError(t, err)
	defer c.Close()
	for _, b := range [][]byte{good, noPayload, rtcp, good, badMagic, good} {
		_, err := c.Write(b)
		require.NoError(t, err)
	}
	closedByServer(t, c, "bad magic")
	waitFor(t, "the refusals", func() bool { return s.Stats().Refused == 3 })

	// A packet cut short by the sender.
	send(t, "tcp", addr, good, good[:20])
	waitFor(t, "the cut packet", func() bool { return s.Stats().Refused == 4 })

	// The server still serves.
	send(t, "tcp", addr, good)
	waitFor(t, "a later connection's packet", func() bool { return s.Stats().Packets == 5 })
	require.ErrorIs(t, stop(), context.Canceled)
	assert.Equal(t, 5, got)
	assert.Equal(t, watch.HEPStats{Packets: 5, Unsupported: 2, Refused: 4, Conns: 3}, s.Stats())
	t.Log(logs.String())
	for _, want := range []string{
		`msg="watch: hep: packet refused" from=127.0.0.1:`, `err="watch: hep: not a HEP packet`,
		`err="watch: hep: missing address, port or payload"`,
		`msg="watch: hep: connection closed"`, `err="watch: hep: truncated packet"`,
	} {
		assert.Contains(t, logs.String(), want)
	}
}

// TestHEPServerBounds: an unauthorised sender's connection is closed, one
// past MaxConns at once, an idle one after IdleTimeout, and log lines are
// bounded.
func TestHEPServerBounds(t *testing.T) {
	var logs syncbuf.Buffer
	s, addr, stop := hepServer(t, watch.HEPOptions{AuthKey: "k", MaxConns: 1, IdleTimeout: time.Second,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}, func(*watch.Packet) error { return nil })
	keyed := hep3(append(chunksOf(udp4, 17), chunk{0, 14, []byte("k")})...)

	first, err := net.Dial("tcp", addr.String())
	require.NoError(t, err)
	defer first.Close()
	_, err = first.Write(keyed)
	require.NoError(t, err)
	waitFor(t, "the first connection's packet", func() bool { return s.Stats().Packets == 1 })
	second, err := net.Dial("tcp", addr.String())
	require.NoError(t, err)
	defer second.Close()
	closedByServer(t, second, "past MaxConns")
	closedByServer(t, first, "idle")

	unkeyed, err := net.Dial("tcp", addr.String())
	require.NoError(t, err)
	defer unkeyed.Close()
	_, err = unkeyed.Write(hepOf(udp4))
	require.NoError(t, err)
	closedByServer(t, unkeyed, "no key")
	send(t, "udp", addr, hepOf(udp4), keyed)
	waitFor(t, "the keyed datagram", func() bool { return s.Stats().Packets == 2 })
	require.ErrorIs(t, stop(), context.Canceled)
	assert.Equal(t, watch.HEPStats{Packets: 2, Refused: 2, Conns: 2, ConnsFull: 1}, s.Stats())
	assert.Equal(t, 1, strings.Count(logs.String(), "\n"), "one line a minute:\n%s", logs.String())
	assert.Contains(t, logs.String(), "MaxConns open")
}

// TestHEPServerStops: fn's error ends Serve with that error; so does a
// cancelled context, and Serve closes what it was given.
func TestHEPServerStops(t *testing.T) {
	boom := errors.New("boom")
	s, addr, stop := hepServer(t, watch.HEPOptions{}, func(*watch.Packet) error { return boom })
	send(t, "tcp", addr, hepOf(udp4), hepOf(udp4))
	waitFor(t, "the packet", func() bool { return s.Stats().Packets == 1 })
	assert.ErrorIs(t, stop(), boom)
	assert.Equal(t, 1, s.Stats().Packets, "nothing after fn's error")

	_, addr, stop = hepServer(t, watch.HEPOptions{}, func(*watch.Packet) error { return nil })
	assert.ErrorIs(t, stop(), context.Canceled)
	_, err := net.Dial("tcp", addr.String())
	assert.Error(t, err, "the listener is closed")

	s, err = watch.NewHEPServer(watch.HEPOptions{})
	require.NoError(t, err)
	assert.ErrorContains(t, s.Serve(context.Background(), nil, nil, nil), "nothing to serve")
	for _, opts := range []watch.HEPOptions{{MaxConns: -1}, {IdleTimeout: -1}, {LogEvery: -1}} {
		_, err := watch.NewHEPServer(opts)
		assert.Error(t, err, "%+v", opts)
	}
}

func TestDestinations(t *testing.T) {
	upstream := netip.MustParseAddrPort("198.51.100.1:5060")
	other := netip.MustParseAddrPort("198.51.100.2:5060")
	s := watch.NewDestinations(2)
	r := []byte(register("d", 1, "z9hG4bK-d", false))
	for _, p := range []watch.Packet{
		{Src: server, Dst: phone, Payload: []byte(answer(string(r), 401))}, // a response teaches nothing
		{Src: phone, Dst: other, Payload: []byte("\r\n\r\n")},              // nor a keep-alive
		{Src: phone, Dst: server, Payload: r},
		{Src: server, Dst: upstream, Payload: r}, // forwarded by the server
	} {
		s.Learn(&p)
	}
	assert.True(t, s.Server(server))
	assert.False(t, s.Server(phone))
	assert.False(t, s.Server(other))
	assert.False(t, s.Server(upstream), "a next hop")
	s.Learn(&watch.Packet{Src: phone, Dst: server6, Payload: r})
	s.Learn(&watch.Packet{Src: phone, Dst: other, Payload: r})
	assert.True(t, s.Server(server6))
	assert.False(t, s.Server(other), "past max")
}

// Senders keeps HEP from anyone else out: a datagram is dropped, a
// connection closed at once.
func TestHEPServerSenders(t *testing.T) {
	s, addr, stop := hepServer(t, watch.HEPOptions{Senders: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		Logger: slog.New(slog.DiscardHandler)}, func(*watch.Packet) error { return nil })
	good := hepOf(udp4)
	from := func(network string) net.Conn {
		d := net.Dialer{LocalAddr: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)}}
		if network == "tcp" {
			d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}
		}
		c, err := d.Dial(network, addr.String())
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		return c
	}
	_, err := from("udp").Write(good)
	require.NoError(t, err)
	waitFor(t, "the stranger's datagram refused", func() bool { return s.Stats().Refused == 1 })
	c := from("tcp")
	_, _ = c.Write(good)
	closedByServer(t, c, "a stranger's connection")
	waitFor(t, "the stranger's connection refused", func() bool { return s.Stats().Refused == 2 })
	send(t, "udp", addr, good)
	send(t, "tcp", addr, good)
	waitFor(t, "the sender's packets", func() bool { return s.Stats().Packets == 2 })
	require.ErrorIs(t, stop(), context.Canceled)
	assert.Equal(t, watch.HEPStats{Packets: 2, Refused: 2, Conns: 1}, s.Stats())
}
