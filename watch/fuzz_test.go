package watch_test

import (
	"bytes"
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"github.com/gopacket/gopacket/layers"

	"github.com/sipban/sipban/detect"
	"github.com/sipban/sipban/sipparse"
	"github.com/sipban/sipban/watch"
)

// FuzzDecode: any frame, of any link type the Decoder knows, decodes to
// nothing or to a packet whose payload lies inside the frame.
func FuzzDecode(f *testing.F) {
	src, dst := netip.MustParseAddrPort("192.0.2.7:5062"), netip.MustParseAddrPort("[2001:db8::10]:5060")
	f.Add(uint16(layers.LinkTypeEthernet), frame(f, layers.LinkTypeEthernet, "udp", src, server, []byte(register("c", 1, "b", true))))
	f.Add(uint16(layers.LinkTypeRaw), frame(f, layers.LinkTypeRaw, "tcp", netip.MustParseAddrPort("[2001:db8::7]:5062"), dst, []byte("x")))
	f.Add(uint16(layers.LinkTypeLinuxSLL), sllFrame(frame(f, layers.LinkTypeRaw, "udp", src, server, []byte("y"))))
	d := watch.NewDecoder()
	f.Fuzz(func(t *testing.T, lt uint16, b []byte) {
		p := d.Decode(layers.LinkType(lt), t0, b)
		if p == nil {
			return
		}
		if len(p.Payload) > 0 && !within(b, p.Payload) {
			t.Fatalf("payload outside the frame")
		}
		if !p.Src.IsValid() || !p.Dst.IsValid() || (p.Transport != "udp" && p.Transport != "tcp") {
			t.Fatalf("incomplete packet %+v", p)
		}
	})
}

func within(outer, inner []byte) bool {
	if len(inner) == 0 {
		return true
	}
	lo, hi := uintptr(unsafe.Pointer(&outer[0])), uintptr(unsafe.Pointer(&outer[len(outer)-1]))
	a, z := uintptr(unsafe.Pointer(&inner[0])), uintptr(unsafe.Pointer(&inner[len(inner)-1]))
	return lo <= a && z <= hi
}

// FuzzPairer: any payloads, either way, never panic, never emit an event
// without a source, and the counts add up, the same with the parse done
// first (Pairer.Parsed). Proof needs what it claims: a
// request before the challenge is never proven over UDP, nor a TCP request
// the server did not answer; after the challenge, a UDP request is proven
// only when its nonce is the one the server sent.
func FuzzPairer(f *testing.F) {
	r := register("c1", 1, "z9hG4bK-1", true)
	f.Add([]byte(r), []byte(answer(r, 403)), true)
	f.Add([]byte(r+r), []byte(answer(r, 100)+answer(r, 200)), false)
	f.Add([]byte("\r\n\r\n"), []byte("SIP/2.0 200 OK\r\n\r\n"), true)
	f.Add([]byte(withNonce(r, "4f1e")), []byte(challenge(r, 401, "4f1e")), true)
	f.Add([]byte(withNonce(r, "4f1e")), []byte(challenge(r, 407, "4f1e")), false)
	f.Fuzz(func(t *testing.T, req, resp []byte, udp bool) {
		p, err := watch.NewPairer(watch.Options{MaxPending: 4})
		if err != nil {
			t.Fatal(err)
		}
		transport := "tcp"
		if udp {
			transport = "udp"
		}
		emitted, proven := 0, 0
		emit := func(ev *detect.Event) {
			emitted++
			if err := ev.Validate(); err != nil {
				t.Fatalf("event %+v: %v", ev, err)
			}
			if ev.Proven {
				proven++
				if udp || ev.Status == 0 {
					t.Fatalf("proven with no challenge before: %+v", ev)
				}
			}
		}
		p.Packet(&watch.Packet{Time: t0, Src: phone, Dst: server, Transport: transport, Payload: req}, emit)
		p.Packet(&watch.Packet{Time: t0, Src: server, Dst: phone, Transport: transport, Payload: resp}, emit)
		p.Expire(t0.AddDate(0, 0, 1), emit)
		st := p.Stats()
		if emitted != st.Paired+st.Unanswered+st.Malformed || proven != st.Proven {
			t.Fatalf("%d events, %d proven, stats %+v", emitted, proven, st)
		}

		// A parse done beforehand, as ReadParsed does, pairs the same.
		p2, err := watch.NewPairer(watch.Options{MaxPending: 4})
		if err != nil {
			t.Fatal(err)
		}
		var pp watch.Parsed
		for _, pkt := range []watch.Packet{
			{Time: t0, Src: phone, Dst: server, Transport: transport, Payload: req},
			{Time: t0, Src: server, Dst: phone, Transport: transport, Payload: resp},
		} {
			pp.Parse(&pkt)
			p2.Parsed(&pp, func(*detect.Event) {})
		}
		p2.Expire(t0.AddDate(0, 0, 1), func(*detect.Event) {})
		if st2 := p2.Stats(); st2 != st {
			t.Fatalf("parsed first: %+v, not %+v", st2, st)
		}

		// The challenge first, then the request, over UDP.
		p, err = watch.NewPairer(watch.Options{MaxPending: 4})
		if err != nil {
			t.Fatal(err)
		}
		var cm, rm sipparse.Message
		_ = sipparse.Parse(resp, &cm)
		_ = sipparse.Parse(req, &rm)
		sent := (cm.Status == 401 || cm.Status == 407) && cm.Challenge.Nonce != nil
		emit = func(ev *detect.Event) {
			if ev.Proven && (!sent || !bytes.Equal(rm.Auth.Nonce, cm.Challenge.Nonce)) {
				t.Fatalf("proven by nonce %q after a %d with nonce %q", rm.Auth.Nonce, cm.Status, cm.Challenge.Nonce)
			}
		}
		p.Packet(&watch.Packet{Time: t0, Src: server, Dst: phone, Transport: "udp", Payload: resp}, emit)
		p.Packet(&watch.Packet{Time: t0.Add(time.Second), Src: phone, Dst: server, Transport: "udp", Payload: req}, emit)
		p.Expire(t0.AddDate(0, 0, 1), emit)
	})
}
