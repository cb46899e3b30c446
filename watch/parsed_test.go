package watch_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/watch"
)

// mixedCapture holds n exchanges between many phones and the server, over
// UDP and TCP (two messages a segment), with keep-alives, garbage, foreign
// traffic and unanswered requests among them: enough packets that
// ReadParsed reuses each of its batches many times.
func mixedCapture(t *testing.T, n int) []byte {
	var frames [][]byte
	other := netip.MustParseAddrPort("198.51.100.1:5060")
	for i := range n {
		ph := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + i%200)}), 5062)
		r := register(fmt.Sprintf("c%d", i), 1, fmt.Sprintf("z9hG4bK-%d", i), i%3 == 0)
		switch i % 7 {
		case 0:
			r2 := register(fmt.Sprintf("c%d-b", i), 2, fmt.Sprintf("z9hG4bK-%d-b", i), true)
			frames = append(frames,
				frame(t, layers.LinkTypeEthernet, "tcp", ph, server, []byte(r+r2)),
				frame(t, layers.LinkTypeEthernet, "tcp", server, ph, []byte(answer(r, 401)+answer(r2, 403))))
		case 1:
			frames = append(frames, frame(t, layers.LinkTypeEthernet, "udp", ph, server, []byte("\r\n\r\n")))
		case 2:
			frames = append(frames, frame(t, layers.LinkTypeEthernet, "udp", ph, server, []byte("INVITE garbage\r\n")))
		case 3:
			frames = append(frames, frame(t, layers.LinkTypeEthernet, "udp", ph, other, []byte(r)))
		case 4:
			frames = append(frames, frame(t, layers.LinkTypeEthernet, "udp", ph, server, []byte(r))) // never answered
		default:
			frames = append(frames,
				frame(t, layers.LinkTypeEthernet, "udp", ph, server, []byte(r)),
				frame(t, layers.LinkTypeEthernet, "udp", server, ph, []byte(answer(r, 200+i%300))))
		}
	}
	return pcapFile(t, layers.LinkTypeEthernet, frames...)
}

// pairFile pairs file as ReadFile and Pairer.Packet do, or as ReadParsed
// and Pairer.Parsed do.
func pairFile(t *testing.T, file []byte, parsed bool) *feeder {
	f := newFeeder(t, watch.Options{MaxPending: 64})
	var err error
	if parsed {
		err = watch.ReadParsed(bytes.NewReader(file), watch.NewDecoder(), func(pp *watch.Parsed) error {
			f.p.Parsed(pp, f.emit)
			return nil
		})
	} else {
		err = watch.ReadFile(bytes.NewReader(file), watch.NewDecoder(), func(pkt *watch.Packet) error {
			f.p.Packet(pkt, f.emit)
			return nil
		})
	}
	require.NoError(t, err)
	f.p.Expire(t0.AddDate(0, 0, 1), f.emit)
	return f
}

func TestReadParsed(t *testing.T) {
	guesser, err := os.ReadFile(filepath.Join("..", "examples", "watch", "testdata", "guesser.pcapng"))
	require.NoError(t, err)
	for name, file := range map[string][]byte{"mixed": mixedCapture(t, 3000), "guesser": guesser} {
		t.Run(name, func(t *testing.T) {
			want, got := pairFile(t, file, false), pairFile(t, file, true)
			require.NotEmpty(t, want.events)
			assert.Equal(t, want.events, got.events)
			assert.Equal(t, want.p.Stats(), got.p.Stats())
		})
	}
	t.Run("counts", func(t *testing.T) {
		st := pairFile(t, mixedCapture(t, 3000), true).p.Stats()
		assert.Positive(t, st.Malformed)
		assert.Positive(t, st.Unanswered)
		assert.Positive(t, st.Ignored)
		// 429 TCP segments of two (i%7 == 0), 428+428 UDP exchanges.
		assert.Equal(t, 429*2+428*2, st.Paired)
	})
}

func TestReadParsedStops(t *testing.T) {
	file := mixedCapture(t, 3000)
	stop := errors.New("stop")
	calls := 0
	err := watch.ReadParsed(bytes.NewReader(file), watch.NewDecoder(), func(*watch.Parsed) error {
		calls++
		if calls == 700 {
			return stop
		}
		return nil
	})
	assert.ErrorIs(t, err, stop)
	assert.Equal(t, 700, calls, "fn is not called after its error")

	err = watch.ReadParsed(bytes.NewReader([]byte("REGISTER sip:x SIP/2.0\r\n")), watch.NewDecoder(), func(*watch.Parsed) error { return nil })
	assert.ErrorContains(t, err, "watch: not a pcap or pcapng file")

	calls = 0
	err = watch.ReadParsed(bytes.NewReader(file[:len(file)-5]), watch.NewDecoder(), func(*watch.Parsed) error {
		calls++
		return nil
	})
	assert.ErrorContains(t, err, "watch: read capture")
	assert.Positive(t, calls, "the packets before the damage are handed on")
}

// TestParsedCopies checks that a Parsed keeps its own copy: the caller may
// reuse the packet's buffer as soon as Parse returns.
func TestParsedCopies(t *testing.T) {
	r := register("own", 1, "z9hG4bK-own", false)
	buf := []byte(r)
	var pp watch.Parsed
	pp.Parse(&watch.Packet{Time: t0, Src: phone, Dst: server, Transport: "udp", Payload: buf})
	copy(buf, bytes.Repeat([]byte{'x'}, len(buf)))

	f := newFeeder(t, watch.Options{})
	f.p.Parsed(&pp, f.emit)
	f.send("udp", server, phone, answer(r, 403))
	require.Len(t, f.events, 1)
	assert.Equal(t, "own", f.events[0].CallID)
	assert.Equal(t, "alice", f.events[0].Account)
	assert.Equal(t, r, string(pp.Packet.Payload))
}
