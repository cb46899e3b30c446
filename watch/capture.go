package watch

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Packet is one UDP datagram or TCP segment payload seen on the wire.
type Packet struct {
	Time time.Time
	Src  netip.AddrPort
	Dst  netip.AddrPort
	// Transport is "udp" or "tcp".
	Transport string
	// Payload aliases the reader's buffer: it is valid until the callback
	// returns.
	Payload []byte
}

// Decoder turns link-layer frames into Packets. It understands Ethernet
// (with 802.1Q tags), Linux cooked captures (SLL and SLL2, as "tcpdump -i
// any" writes), BSD loopback and raw IP, over IPv4 and IPv6. IP fragments and
// other protocols are counted and skipped. A Decoder is not safe for
// concurrent use; it allocates nothing per frame.
type Decoder struct {
	eth     layers.Ethernet
	dot1q   layers.Dot1Q
	sll     layers.LinuxSLL
	sll2    layers.LinuxSLL2
	loop    layers.Loopback
	ip4     layers.IPv4
	ip6     layers.IPv6
	udp     layers.UDP
	tcp     layers.TCP
	payload gopacket.Payload
	parsers map[layers.LinkType]*gopacket.DecodingLayerParser
	decoded []gopacket.LayerType
	pkt     Packet

	// Skipped counts frames that held no UDP or TCP payload to read:
	// fragments, other protocols, truncated or unreadable frames.
	Skipped int
}

// NewDecoder returns a Decoder.
func NewDecoder() *Decoder {
	d := &Decoder{decoded: make([]gopacket.LayerType, 0, 8)}
	all := []gopacket.DecodingLayer{&d.eth, &d.dot1q, &d.sll, &d.sll2, &d.loop, &d.ip4, &d.ip6, &d.udp, &d.tcp, &d.payload}
	d.parsers = map[layers.LinkType]*gopacket.DecodingLayerParser{}
	for lt, first := range map[layers.LinkType]gopacket.LayerType{
		layers.LinkTypeEthernet:  layers.LayerTypeEthernet,
		layers.LinkTypeLinuxSLL:  layers.LayerTypeLinuxSLL,
		layers.LinkTypeLinuxSLL2: layers.LayerTypeLinuxSLL2,
		layers.LinkTypeNull:      layers.LayerTypeLoopback,
		layers.LinkTypeLoop:      layers.LayerTypeLoopback,
		layers.LinkTypeIPv4:      layers.LayerTypeIPv4,
		layers.LinkTypeIPv6:      layers.LayerTypeIPv6,
	} {
		p := gopacket.NewDecodingLayerParser(first, all...)
		p.IgnoreUnsupported = true
		d.parsers[lt] = p
	}
	return d
}

// ErrLinkType is returned for a capture whose link type the Decoder does not
// understand.
var ErrLinkType = errors.New("watch: unsupported link type")

// Decode reads one frame of link type lt, captured at t. It returns nil for
// a frame it skips; the Packet it returns is reused by the next call.
func (d *Decoder) Decode(lt layers.LinkType, t time.Time, frame []byte) *Packet {
	if lt == layers.LinkTypeRaw && len(frame) > 0 {
		// Raw IP: the version nibble says which.
		lt = layers.LinkTypeIPv4
		if frame[0]>>4 == 6 {
			lt = layers.LinkTypeIPv6
		}
	}
	p := d.parsers[lt]
	if p == nil {
		d.Skipped++
		return nil
	}
	if err := p.DecodeLayers(frame, &d.decoded); err != nil {
		d.Skipped++
		return nil
	}
	var src, dst netip.Addr
	pkt := &d.pkt
	*pkt = Packet{Time: t}
	for _, l := range d.decoded {
		switch l {
		case layers.LayerTypeIPv4:
			src, _ = netip.AddrFromSlice(d.ip4.SrcIP)
			dst, _ = netip.AddrFromSlice(d.ip4.DstIP)
		case layers.LayerTypeIPv6:
			src, _ = netip.AddrFromSlice(d.ip6.SrcIP)
			dst, _ = netip.AddrFromSlice(d.ip6.DstIP)
		case layers.LayerTypeUDP:
			pkt.Transport = "udp"
			pkt.Src = netip.AddrPortFrom(src.Unmap(), uint16(d.udp.SrcPort))
			pkt.Dst = netip.AddrPortFrom(dst.Unmap(), uint16(d.udp.DstPort))
			pkt.Payload = d.udp.Payload
		case layers.LayerTypeTCP:
			pkt.Transport = "tcp"
			pkt.Src = netip.AddrPortFrom(src.Unmap(), uint16(d.tcp.SrcPort))
			pkt.Dst = netip.AddrPortFrom(dst.Unmap(), uint16(d.tcp.DstPort))
			pkt.Payload = d.tcp.Payload
		}
	}
	if pkt.Transport == "" || !src.IsValid() {
		d.Skipped++
		return nil
	}
	return pkt
}

// frameReader is what pcapgo's file readers and live handles share.
type frameReader interface {
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

// ReadFile reads a pcap or pcapng capture from r and calls fn for every
// UDP or TCP packet in it, in order, until the end (nil), fn's first error,
// or a read error. The Packet is reused: fn must not keep it.
func ReadFile(r io.Reader, d *Decoder, fn func(*Packet) error) error {
	frames, linkType, err := open(r)
	if err != nil {
		return err
	}
	return loop(context.Background(), frames, linkType, d, fn)
}

// open reads the header of a pcap or pcapng capture.
func open(r io.Reader) (frameReader, func(ifaceIndex int) layers.LinkType, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	magic, err := br.Peek(4)
	if err != nil {
		return nil, nil, fmt.Errorf("watch: read capture: %w", err)
	}
	if string(magic) == "\x0a\x0d\x0d\x0a" {
		ng, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return nil, nil, fmt.Errorf("watch: pcapng: %w", err)
		}
		return ng, func(ifc int) layers.LinkType {
			if ifc, err := ng.Interface(ifc); err == nil {
				return ifc.LinkType
			}
			return ng.LinkType()
		}, nil
	}
	pr, err := pcapgo.NewReader(br)
	if err != nil {
		return nil, nil, fmt.Errorf("watch: not a pcap or pcapng file: %w", err)
	}
	lt := pr.LinkType()
	return pr, func(int) layers.LinkType { return lt }, nil
}

func loop(ctx context.Context, r frameReader, linkType func(ifaceIndex int) layers.LinkType, d *Decoder, fn func(*Packet) error) error {
	for ctx.Err() == nil {
		data, ci, err := r.ZeroCopyReadPacketData()
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return fmt.Errorf("watch: read capture: %w", err)
		}
		if p := d.Decode(linkType(ci.InterfaceIndex), ci.Timestamp, data); p != nil {
			if err := fn(p); err != nil {
				return err
			}
		}
	}
	return ctx.Err()
}
