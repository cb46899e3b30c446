package watch_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/sipban/sipban/detect"
	"github.com/sipban/sipban/sipparse"
	"github.com/sipban/sipban/watch"
)

// traffic is a registrar's day in miniature: 1,000 phones each registering
// through a digest challenge (REGISTER, 401 with a nonce, REGISTER with
// credentials over that nonce, 200), repeated, as packets a millisecond
// apart.
func traffic(b *testing.B, rounds int) []watch.Packet {
	var out []watch.Packet
	t := t0
	for r := range rounds {
		for i := range 1000 {
			src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 5060+uint16(r%3))
			callID := fmt.Sprintf("%d-%d@phone", r, i)
			nonce := fmt.Sprintf("GOqBxv%08x-Co_Nsi0c0SCTmfjlBXZLJ3tw%04d", r, i) // as long as sipauth's
			r1 := register(callID, 1, fmt.Sprintf("z9hG4bK-a%d-%d", r, i), false)
			r2 := withNonce(register(callID, 2, fmt.Sprintf("z9hG4bK-b%d-%d", r, i), true), nonce)
			for _, m := range []struct {
				src, dst netip.AddrPort
				msg      string
			}{{src, server, r1}, {server, src, challenge(r1, 401, nonce)}, {src, server, r2}, {server, src, answer(r2, 200)}} {
				t = t.Add(time.Millisecond)
				// A field broken by mistake would make every message cheaper to pair.
				var parsed sipparse.Message
				if err := sipparse.Parse([]byte(m.msg), &parsed); err != nil {
					b.Fatalf("traffic: %v in %q", err, m.msg)
				}
				out = append(out, watch.Packet{Time: t, Src: m.src, Dst: m.dst, Transport: "udp", Payload: []byte(m.msg)})
			}
		}
	}
	return out
}

// BenchmarkPair pairs messages already in memory: the Pairer's own cost,
// parse included.
func BenchmarkPair(b *testing.B) {
	pkts := traffic(b, 4)
	p, err := watch.NewPairer(watch.Options{})
	if err != nil {
		b.Fatal(err)
	}
	events := 0
	emit := func(*detect.Event) { events++ }
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		// Laps repeat Call-IDs, but each transaction was completed.
		p.Packet(&pkts[i%len(pkts)], emit)
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	if events == 0 {
		b.Fatal("nothing paired")
	}
	if b.N >= len(pkts) && p.Stats().Proven == 0 {
		b.Fatal("nothing proven")
	}
}

// BenchmarkReadPair reads a pcap file from memory, decodes each frame and
// pairs it: the whole pipeline of examples/watch but the Guard, on one
// goroutine (ReadFile) and on three (ReadParsed).
func BenchmarkReadPair(b *testing.B) {
	pkts := traffic(b, 4)
	frames := make([][]byte, len(pkts))
	for i, p := range pkts {
		frames[i] = frame(b, layers.LinkTypeEthernet, "udp", p.Src, p.Dst, p.Payload)
	}
	file := pcapFile(b, layers.LinkTypeEthernet, frames...)
	for _, parsed := range []bool{false, true} {
		name := "ReadFile"
		if parsed {
			name = "ReadParsed"
		}
		b.Run(name, func(b *testing.B) {
			p, err := watch.NewPairer(watch.Options{})
			if err != nil {
				b.Fatal(err)
			}
			emit := func(*detect.Event) {}
			b.ReportAllocs()
			for b.Loop() {
				if parsed {
					err = watch.ReadParsed(bytes.NewReader(file), watch.NewDecoder(), func(pp *watch.Parsed) error {
						p.Parsed(pp, emit)
						return nil
					})
				} else {
					err = watch.ReadFile(bytes.NewReader(file), watch.NewDecoder(), func(pkt *watch.Packet) error {
						p.Packet(pkt, emit)
						return nil
					})
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			if p.Stats().Paired == 0 {
				b.Fatal("nothing paired")
			}
			b.ReportMetric(float64(p.Stats().Messages)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
