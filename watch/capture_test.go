package watch_test

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/watch"
)

var t0 = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)

// frame builds a link-layer frame carrying payload from src to dst.
func frame(t testing.TB, lt layers.LinkType, transport string, src, dst netip.AddrPort, payload []byte) []byte {
	t.Helper()
	var ls []gopacket.SerializableLayer
	var netl gopacket.NetworkLayer
	ethType, family := layers.EthernetTypeIPv4, layers.ProtocolFamilyIPv4
	proto := layers.IPProtocolUDP
	if transport == "tcp" {
		proto = layers.IPProtocolTCP
	}
	if src.Addr().Is4() {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		netl = ip
		ls = append(ls, ip)
	} else {
		ethType, family = layers.EthernetTypeIPv6, layers.ProtocolFamilyIPv6Linux
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		netl = ip
		ls = append(ls, ip)
	}
	if transport == "tcp" {
		tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), ACK: true, PSH: true, Window: 1024}
		require.NoError(t, tcp.SetNetworkLayerForChecksum(netl))
		ls = append(ls, tcp)
	} else {
		udp := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
		require.NoError(t, udp.SetNetworkLayerForChecksum(netl))
		ls = append(ls, udp)
	}
	ls = append(ls, gopacket.Payload(payload))
	switch lt {
	case layers.LinkTypeEthernet:
		ls = append([]gopacket.SerializableLayer{&layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: ethType}}, ls...)
	case layers.LinkTypeNull:
		ls = append([]gopacket.SerializableLayer{&layers.Loopback{Family: family}}, ls...)
	case layers.LinkTypeRaw:
	default:
		t.Fatalf("no frame builder for %v", lt)
	}
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...))
	return buf.Bytes()
}

// sllFrame wraps an IPv4 packet in a Linux cooked (SLL) header, as
// "tcpdump -i any" writes.
func sllFrame(ip []byte) []byte {
	h := []byte{0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00}
	return append(h, ip...)
}

// pcapFile writes frames as a pcap file, a millisecond apart.
func pcapFile(t testing.TB, lt layers.LinkType, frames ...[]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := pcapgo.NewWriterNanos(&b)
	require.NoError(t, w.WriteFileHeader(65535, lt))
	for i, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(f), Length: len(f)}
		require.NoError(t, w.WritePacket(ci, f))
	}
	return b.Bytes()
}

func TestDecoderLinkTypes(t *testing.T) {
	src4, dst4 := netip.MustParseAddrPort("192.0.2.7:5062"), netip.MustParseAddrPort("192.0.2.10:5060")
	src6, dst6 := netip.MustParseAddrPort("[2001:db8::7]:5062"), netip.MustParseAddrPort("[2001:db8::10]:5060")
	msg := []byte("OPTIONS sip:x SIP/2.0\r\n\r\n")
	d := watch.NewDecoder()
	for _, tc := range []struct {
		name      string
		lt        layers.LinkType
		transport string
		src, dst  netip.AddrPort
	}{
		{"ethernet/udp4", layers.LinkTypeEthernet, "udp", src4, dst4},
		{"ethernet/udp6", layers.LinkTypeEthernet, "udp", src6, dst6},
		{"ethernet/tcp4", layers.LinkTypeEthernet, "tcp", src4, dst4},
		{"null/udp4", layers.LinkTypeNull, "udp", src4, dst4},
		{"raw/udp6", layers.LinkTypeRaw, "udp", src6, dst6},
		{"raw/tcp6", layers.LinkTypeRaw, "tcp", src6, dst6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := d.Decode(tc.lt, t0, frame(t, tc.lt, tc.transport, tc.src, tc.dst, msg))
			require.NotNil(t, p)
			assert.Equal(t, tc.src, p.Src)
			assert.Equal(t, tc.dst, p.Dst)
			assert.Equal(t, tc.transport, p.Transport)
			assert.Equal(t, msg, p.Payload)
			assert.Equal(t, t0, p.Time)
		})
	}
	t.Run("sll", func(t *testing.T) {
		p := d.Decode(layers.LinkTypeLinuxSLL, t0, sllFrame(frame(t, layers.LinkTypeRaw, "udp", src4, dst4, msg)))
		require.NotNil(t, p)
		assert.Equal(t, src4, p.Src)
		assert.Equal(t, msg, p.Payload)
	})
	skipped := d.Skipped
	assert.Nil(t, d.Decode(layers.LinkTypeEthernet, t0, []byte{1, 2, 3}), "truncated")
	assert.Nil(t, d.Decode(layers.LinkTypeFDDI, t0, frame(t, layers.LinkTypeEthernet, "udp", src4, dst4, msg)), "unknown link type")
	arp := frame(t, layers.LinkTypeEthernet, "udp", src4, dst4, msg)
	arp[12], arp[13] = 0x08, 0x06
	assert.Nil(t, d.Decode(layers.LinkTypeEthernet, t0, arp), "not IP")
	frag := frame(t, layers.LinkTypeEthernet, "udp", src4, dst4, msg)
	frag[14+6] |= 0x20 // more fragments
	assert.Nil(t, d.Decode(layers.LinkTypeEthernet, t0, frag), "a fragment")
	assert.Equal(t, skipped+4, d.Skipped)
}

func readAll(t *testing.T, file []byte) []watch.Packet {
	t.Helper()
	var out []watch.Packet
	err := watch.ReadFile(bytes.NewReader(file), watch.NewDecoder(), func(p *watch.Packet) error {
		q := *p
		q.Payload = bytes.Clone(p.Payload)
		out = append(out, q)
		return nil
	})
	require.NoError(t, err)
	return out
}

func TestReadFile(t *testing.T) {
	src, dst := netip.MustParseAddrPort("192.0.2.7:5062"), netip.MustParseAddrPort("192.0.2.10:5060")
	frames := [][]byte{
		frame(t, layers.LinkTypeEthernet, "udp", src, dst, []byte("one")),
		{0xde, 0xad},
		frame(t, layers.LinkTypeEthernet, "udp", dst, src, []byte("two")),
	}
	var ng bytes.Buffer
	w, err := pcapgo.NewNgWriter(&ng, layers.LinkTypeEthernet)
	require.NoError(t, err)
	for i, f := range frames {
		require.NoError(t, w.WritePacket(gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(f), Length: len(f)}, f))
	}
	require.NoError(t, w.Flush())

	for name, file := range map[string][]byte{"pcap": pcapFile(t, layers.LinkTypeEthernet, frames...), "pcapng": ng.Bytes()} {
		t.Run(name, func(t *testing.T) {
			got := readAll(t, file)
			require.Len(t, got, 2)
			assert.Equal(t, "one", string(got[0].Payload))
			assert.Equal(t, dst, got[1].Src)
			assert.Equal(t, t0.Add(2*time.Millisecond), got[1].Time.UTC())
		})
	}
	t.Run("not a capture", func(t *testing.T) {
		err := watch.ReadFile(bytes.NewReader([]byte("REGISTER sip:x SIP/2.0\r\n")), watch.NewDecoder(), func(*watch.Packet) error { return nil })
		assert.ErrorContains(t, err, "watch: not a pcap or pcapng file")
	})
	t.Run("truncated", func(t *testing.T) {
		file := pcapFile(t, layers.LinkTypeEthernet, frames...)
		err := watch.ReadFile(bytes.NewReader(file[:len(file)-5]), watch.NewDecoder(), func(*watch.Packet) error { return nil })
		assert.ErrorContains(t, err, "watch: read capture")
	})
}
