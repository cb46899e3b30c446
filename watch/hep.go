package watch

import (
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"net/netip"
	"time"
	"unsafe"
)

// Errors HEPDecoder.Decode returns. Test them with errors.Is. They are
// values, never wrapped, so that a refused packet costs no allocation.
var (
	// ErrHEPVersion reports a packet that starts with neither the HEPv3
	// magic "HEP3" nor the version byte 1 or 2 of HEPv1 and HEPv2.
	ErrHEPVersion = errors.New("watch: hep: not a HEP packet (no HEP3 magic, version not 1 or 2)")
	// ErrHEPTruncated reports a packet shorter than its header, its total
	// length or one of its chunks says.
	ErrHEPTruncated = errors.New("watch: hep: truncated packet")
	// ErrHEPLength reports a length that cannot be right: a total length
	// below the header's or other than the packet's, a chunk length below
	// its header's, or a fixed-size chunk (address, port, time) of another
	// size.
	ErrHEPLength = errors.New("watch: hep: bad length")
	// ErrHEPIncomplete reports a packet missing an address, a port or the
	// payload.
	ErrHEPIncomplete = errors.New("watch: hep: missing address, port or payload")
	// ErrHEPUnsupported reports a well-formed packet that does not carry
	// SIP over UDP or TCP: RTCP, logs, SCTP, a compressed payload. Senders
	// mix these into the SIP they mirror; skip them.
	ErrHEPUnsupported = errors.New("watch: hep: not SIP over UDP or TCP")
	// ErrHEPAuth reports a packet without the auth key HEPDecoder.AuthKey
	// requires.
	ErrHEPAuth = errors.New("watch: hep: wrong or missing auth key")
)

// HEPv3 generic chunk types (vendor 0), from the HEP specification.
const (
	hepFamily    = 1
	hepIPProto   = 2
	hepSrc4      = 3
	hepDst4      = 4
	hepSrc6      = 5
	hepDst6      = 6
	hepSrcPort   = 7
	hepDstPort   = 8
	hepSeconds   = 9
	hepMicros    = 10
	hepProtoType = 11
	hepAuthKey   = 14
	hepPayload   = 15
	hepGzipped   = 16

	hepSIP = 1 // protocol type
)

// hepSizes holds the body size of each fixed-size chunk type read or
// checked; 0 is any size.
var hepSizes = [...]uint8{hepFamily: 1, hepIPProto: 1, hepSrc4: 4, hepDst4: 4, hepSrc6: 16, hepDst6: 16,
	hepSrcPort: 2, hepDstPort: 2, hepSeconds: 4, hepMicros: 4, hepProtoType: 1}

// HEPDecoder turns HEP (Homer encapsulation protocol) packets into the
// Packets the capture Decoder makes, for a Pairer: HEPv3, and HEPv1 and
// HEPv2 as Kamailio and OpenSIPS send them over UDP. The zero value is
// ready to use. A HEPDecoder is not safe for concurrent use; it allocates
// nothing, refusals included.
type HEPDecoder struct {
	// AuthKey, if set, is the key every packet must carry in its HEPv3
	// auth key chunk (Kamailio's siptrace auth_key, Asterisk's
	// capture_password); others, HEPv1 and HEPv2 included, are refused
	// with ErrHEPAuth. HEP travels in clear: the key keeps out a stranger
	// who reaches the port, not one who can read the traffic.
	AuthKey string

	pkt Packet
}

// Decode reads b, exactly one HEP packet: a UDP datagram, or a frame of a
// TCP stream cut at its HEPv3 total length. A packet without a timestamp
// (HEPv1, or HEPv3 without chunk 9) is timed now. It returns one of the
// ErrHEP errors for a packet it refuses. The Packet's Payload aliases b,
// and the Packet is reused by the next call.
//
// IP protocol 17 reads as udp, 6 as tcp, and so does 22, which Kamailio
// sends for TLS and WebSocket (both run over TCP: an answer on them proves
// the source as one on TCP does); a HEPv3 packet with no protocol chunk
// reads as udp, which proves nothing by itself.
func (d *HEPDecoder) Decode(now time.Time, b []byte) (*Packet, error) {
	var err error
	switch {
	case len(b) >= 4 && string(b[:4]) == "HEP3":
		err = d.decode3(now, b)
	case len(b) > 0 && (b[0] == 1 || b[0] == 2):
		err = d.decode2(now, b)
	default:
		err = ErrHEPVersion
	}
	if err != nil {
		return nil, err
	}
	return &d.pkt, nil
}

func (d *HEPDecoder) decode3(now time.Time, b []byte) error {
	if len(b) < 6 {
		return ErrHEPTruncated
	}
	switch n := int(binary.BigEndian.Uint16(b[4:6])); {
	case n > len(b):
		return ErrHEPTruncated
	case n < 6 || n < len(b):
		return ErrHEPLength
	}
	var (
		have          uint32 // a bit per generic chunk type seen
		src4, dst4    [4]byte
		src6, dst6    [16]byte
		sport, dport  uint16
		secs, micros  uint32
		proto, ptype  byte
		payload, auth []byte
	)
	for rest := b[6:]; len(rest) > 0; {
		if len(rest) < 6 {
			return ErrHEPTruncated
		}
		vendor, typ := binary.BigEndian.Uint16(rest), int(binary.BigEndian.Uint16(rest[2:]))
		n := int(binary.BigEndian.Uint16(rest[4:]))
		switch {
		case n < 6:
			return ErrHEPLength
		case n > len(rest):
			return ErrHEPTruncated
		}
		body := rest[6:n]
		rest = rest[n:]
		if vendor != 0 {
			continue // a vendor's own chunk, whatever its type
		}
		if typ < len(hepSizes) && hepSizes[typ] != 0 && len(body) != int(hepSizes[typ]) {
			return ErrHEPLength
		}
		if typ < 32 {
			have |= 1 << typ
		}
		switch typ {
		case hepIPProto:
			proto = body[0]
		case hepSrc4:
			src4 = [4]byte(body)
		case hepDst4:
			dst4 = [4]byte(body)
		case hepSrc6:
			src6 = [16]byte(body)
		case hepDst6:
			dst6 = [16]byte(body)
		case hepSrcPort:
			sport = binary.BigEndian.Uint16(body)
		case hepDstPort:
			dport = binary.BigEndian.Uint16(body)
		case hepSeconds:
			secs = binary.BigEndian.Uint32(body)
		case hepMicros:
			micros = binary.BigEndian.Uint32(body)
		case hepProtoType:
			ptype = body[0]
		case hepAuthKey:
			auth = body
		case hepPayload:
			payload = body
		}
	}
	seen := func(t int) bool { return have&(1<<t) != 0 }
	if d.AuthKey != "" && (!seen(hepAuthKey) || !d.keyIs(auth)) {
		return ErrHEPAuth
	}
	transport, ok := hepTransport(proto, seen(hepIPProto))
	if !ok || (seen(hepProtoType) && ptype != hepSIP) || (seen(hepGzipped) && !seen(hepPayload)) {
		return ErrHEPUnsupported
	}
	p := &d.pkt
	*p = Packet{Time: now, Transport: transport, Payload: payload}
	// The address chunks say the family: the family chunk's AF_INET6 is
	// the sender's system's, which differs between systems.
	switch {
	case seen(hepSrc4) && seen(hepDst4):
		p.Src = netip.AddrPortFrom(netip.AddrFrom4(src4), sport)
		p.Dst = netip.AddrPortFrom(netip.AddrFrom4(dst4), dport)
	case seen(hepSrc6) && seen(hepDst6):
		p.Src = netip.AddrPortFrom(netip.AddrFrom16(src6).Unmap(), sport)
		p.Dst = netip.AddrPortFrom(netip.AddrFrom16(dst6).Unmap(), dport)
	default:
		return ErrHEPIncomplete
	}
	if !seen(hepSrcPort) || !seen(hepDstPort) || !seen(hepPayload) {
		return ErrHEPIncomplete
	}
	if seen(hepSeconds) {
		p.Time = time.Unix(int64(secs), int64(micros)*1000)
	}
	return nil
}

// decode2 reads HEPv1 and HEPv2: an 8-byte header (version, header length,
// family, IP protocol, ports), the two addresses, for HEPv2 a 12-byte time
// header, then the payload. The header length says the family: 16 with
// IPv4 addresses, 40 with IPv6. HEPv2's seconds and microseconds are
// little-endian, as Kamailio and OpenSIPS write them on every host.
func (d *HEPDecoder) decode2(now time.Time, b []byte) error {
	if len(b) < 8 {
		return ErrHEPTruncated
	}
	hl := int(b[1])
	if hl != 16 && hl != 40 {
		return ErrHEPLength
	}
	start := hl
	if b[0] == 2 {
		start += 12
	}
	if len(b) < start {
		return ErrHEPTruncated
	}
	if d.AuthKey != "" {
		return ErrHEPAuth
	}
	transport, ok := hepTransport(b[3], true)
	if !ok {
		return ErrHEPUnsupported
	}
	p := &d.pkt
	*p = Packet{Time: now, Transport: transport, Payload: b[start:]}
	sport, dport := binary.BigEndian.Uint16(b[4:]), binary.BigEndian.Uint16(b[6:])
	if hl == 16 {
		p.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[8:12])), sport)
		p.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[12:16])), dport)
	} else {
		p.Src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[8:24])).Unmap(), sport)
		p.Dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[24:40])).Unmap(), dport)
	}
	if b[0] == 2 {
		p.Time = time.Unix(int64(binary.LittleEndian.Uint32(b[hl:])), int64(binary.LittleEndian.Uint32(b[hl+4:]))*1000)
	}
	return nil
}

func (d *HEPDecoder) keyIs(key []byte) bool {
	want := unsafe.Slice(unsafe.StringData(d.AuthKey), len(d.AuthKey))
	return subtle.ConstantTimeCompare(key, want) == 1
}

func hepTransport(proto byte, seen bool) (string, bool) {
	switch {
	case !seen || proto == 17:
		return "udp", true
	case proto == 6 || proto == 22:
		return "tcp", true
	}
	return "", false
}

// hepFrame returns the length of the HEPv3 packet whose first 6 bytes are
// h, for cutting a TCP stream: HEPv1 and HEPv2 carry no total length and
// travel over UDP only.
func hepFrame(h []byte) (int, error) {
	if string(h[:4]) != "HEP3" {
		return 0, ErrHEPVersion
	}
	n := int(binary.BigEndian.Uint16(h[4:6]))
	if n < 6 {
		return 0, ErrHEPLength
	}
	return n, nil
}

// Destinations learns the watched server's addresses from its own HEP
// mirror, which shows only traffic the server sent or received: every
// address a request goes to is the server's, unless the request comes from
// one already learned (a proxy forwarding to the next hop). Its Server
// method is an Options.Server. Give a proxy's upstreams, or a mirror of
// several servers, as a list instead: a request forwarded before any
// arrives makes its next hop a server too. At most max addresses are
// learned; later ones are not servers, their traffic ignored. A
// Destinations is not safe for concurrent use: feed it with the Pairer.
type Destinations struct {
	set map[netip.AddrPort]struct{}
	max int
}

// NewDestinations returns a Destinations that learns up to max addresses.
func NewDestinations(max int) *Destinations {
	return &Destinations{set: make(map[netip.AddrPort]struct{}, max), max: max}
}

// Learn reads p: if its payload starts as a SIP request does (an upper
// case method, not "SIP/2.0"), p's destination is a server's, unless its
// source is.
func (s *Destinations) Learn(p *Packet) {
	b := p.Payload
	if len(b) == 0 || b[0] < 'A' || b[0] > 'Z' || (len(b) >= 4 && string(b[:4]) == "SIP/") {
		return
	}
	if _, known := s.set[p.Dst]; known || len(s.set) >= s.max || s.Server(p.Src) {
		return
	}
	s.set[p.Dst] = struct{}{}
}

// Server reports whether a was learned as a server's address.
func (s *Destinations) Server(a netip.AddrPort) bool {
	_, ok := s.set[a]
	return ok
}

// ErrHEPTooLong is returned by AppendHEP for a payload that does not fit
// in a HEPv3 packet, whose length is 16 bits.
var ErrHEPTooLong = errors.New("watch: hep: payload too long for a HEP packet")

// AppendHEP appends p to dst as a HEPv3 packet, as a capture agent sends it:
// to relay a capture to a HEP collector, or to test a HEP input. Its time
// is kept to the microsecond.
func AppendHEP(dst []byte, p *Packet) ([]byte, error) {
	v4 := p.Src.Addr().Is4() && p.Dst.Addr().Is4()
	family, src, addr := byte(2), byte(hepSrc4), 4
	if !v4 {
		family, src, addr = 10, hepSrc6, 16
	}
	n := 6 + 2*7 + 2*(6+addr) + 2*8 + 2*10 + 7 + 6 + len(p.Payload)
	if n > 0xffff {
		return dst, ErrHEPTooLong
	}
	proto := byte(17)
	if p.Transport == "tcp" {
		proto = 6
	}
	chunk := func(b []byte, typ byte, size int) []byte {
		return append(b, 0, 0, 0, typ, byte((6+size)>>8), byte(6+size))
	}
	ip := func(b []byte, a netip.Addr) []byte {
		if v4 {
			a4 := a.As4()
			return append(b, a4[:]...)
		}
		a16 := a.As16()
		return append(b, a16[:]...)
	}
	b := append(dst, 'H', 'E', 'P', '3', byte(n>>8), byte(n))
	b = append(chunk(b, hepFamily, 1), family)
	b = append(chunk(b, hepIPProto, 1), proto)
	b = ip(chunk(b, src, addr), p.Src.Addr())
	b = ip(chunk(b, src+1, addr), p.Dst.Addr())
	b = binary.BigEndian.AppendUint16(chunk(b, hepSrcPort, 2), p.Src.Port())
	b = binary.BigEndian.AppendUint16(chunk(b, hepDstPort, 2), p.Dst.Port())
	b = binary.BigEndian.AppendUint32(chunk(b, hepSeconds, 4), uint32(p.Time.Unix()))
	b = binary.BigEndian.AppendUint32(chunk(b, hepMicros, 4), uint32(p.Time.Nanosecond()/1000))
	b = append(chunk(b, hepProtoType, 1), hepSIP)
	b = append(chunk(b, hepPayload, len(p.Payload)), p.Payload...)
	return b, nil
}
