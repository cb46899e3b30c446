package watch_test

import (
	"net/netip"
	"testing"
	"unsafe"

	"github.com/gopacket/gopacket/layers"

	"github.com/sipban/sipban/detect"
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
// without a source, and the counts add up.
func FuzzPairer(f *testing.F) {
	r := register("c1", 1, "z9hG4bK-1", true)
	f.Add([]byte(r), []byte(answer(r, 403)), true)
	f.Add([]byte(r+r), []byte(answer(r, 100)+answer(r, 200)), false)
	f.Add([]byte("\r\n\r\n"), []byte("SIP/2.0 200 OK\r\n\r\n"), true)
	f.Fuzz(func(t *testing.T, req, resp []byte, udp bool) {
		p, err := watch.NewPairer(watch.Options{MaxPending: 4})
		if err != nil {
			t.Fatal(err)
		}
		transport := "tcp"
		if udp {
			transport = "udp"
		}
		emitted := 0
		emit := func(ev *detect.Event) {
			emitted++
			if err := ev.Validate(); err != nil {
				t.Fatalf("event %+v: %v", ev, err)
			}
		}
		p.Packet(&watch.Packet{Time: t0, Src: phone, Dst: server, Transport: transport, Payload: req}, emit)
		p.Packet(&watch.Packet{Time: t0, Src: server, Dst: phone, Transport: transport, Payload: resp}, emit)
		p.Expire(t0.AddDate(0, 0, 1), emit)
		st := p.Stats()
		if emitted != st.Paired+st.Unanswered+st.Malformed {
			t.Fatalf("%d events, stats %+v", emitted, st)
		}
	})
}
