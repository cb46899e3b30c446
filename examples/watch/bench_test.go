//go:build unix

package main

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// BenchmarkCapture runs watch on a capture file of 800,000 SIP messages, a
// millisecond apart: 1,000 phones registering through a digest challenge,
// 195 times each, and 1,000 guessers that each get five wrong passwords
// answered 403 in the first rounds, and are banned. Each iteration is a
// whole run, as the command makes it: read, decode, pair, judge, print the
// bans (to io.Discard). cpu-ns/msg is the process's CPU time, user and
// system, per message: unlike msgs/s it does not fall when other processes
// take the cores.
func BenchmarkCapture(b *testing.B) {
	const phones, guessers, rounds, guesses = 1000, 1000, 195, 5
	path := filepath.Join(b.TempDir(), "day.pcap")
	messages := writeCapture(b, path, phones, guessers, rounds, guesses)
	want := fmt.Sprintf("watch: %d SIP messages, %d transactions paired, 0 unanswered, 0 unreadable, 0 frames skipped; %d bans",
		messages, messages/2, guessers)
	var out strings.Builder
	cpu := -cpuTime(b)
	for b.Loop() {
		out.Reset()
		if err := run(context.Background(), &out, config{file: path}); err != nil {
			b.Fatal(err)
		}
	}
	if !strings.Contains(out.String(), want) {
		b.Fatalf("the last run printed %.300q, want %q", out.String()[max(0, out.Len()-300):], want)
	}
	cpu += cpuTime(b)
	b.ReportMetric(float64(messages)*float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(messages*b.N), "cpu-ns/msg")
}

// cpuTime returns the CPU time the process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// writeCapture writes the capture BenchmarkCapture reads and returns how
// many messages it holds.
func writeCapture(b *testing.B, path string, phones, guessers, rounds, guesses int) int {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	pw := pcapgo.NewWriterNanos(w)
	if err := pw.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		b.Fatal(err)
	}
	server := netip.MustParseAddrPort("10.0.0.1:5060")
	t := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	buf := gopacket.NewSerializeBuffer()
	n := 0
	write := func(src, dst netip.AddrPort, msg string) {
		eth := &layers.Ethernet{SrcMAC: []byte{2, 0, 0, 0, 0, 1}, DstMAC: []byte{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		udp := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
		if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
			b.Fatal(err)
		}
		opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
		if err := gopacket.SerializeLayers(buf, opts, eth, ip, udp, gopacket.Payload(msg)); err != nil {
			b.Fatal(err)
		}
		t = t.Add(time.Millisecond)
		ci := gopacket.CaptureInfo{Timestamp: t, CaptureLength: len(buf.Bytes()), Length: len(buf.Bytes())}
		if err := pw.WritePacket(ci, buf.Bytes()); err != nil {
			b.Fatal(err)
		}
		n++
	}
	// exchange is a REGISTER challenged with a fresh nonce, sent again with
	// credentials over it, and answered final.
	exchange := func(src netip.AddrPort, user, callID string, r, final int) {
		nonce := fmt.Sprintf("GOqBxv%08x-Co_Nsi0c0SCTmfjlBXZLJ3tw%s", r, src.Addr())
		r1 := register(src, user, callID, 2*r+1, "")
		r2 := register(src, user, callID, 2*r+2, nonce)
		write(src, server, r1)
		write(server, src, response(r1, 401, nonce))
		write(src, server, r2)
		write(server, src, response(r2, final, ""))
	}
	for r := range rounds {
		for i := range phones {
			src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 5062)
			exchange(src, fmt.Sprint("phone", i), fmt.Sprintf("p%d-%d", i, r), r, 200)
		}
		if r < guesses {
			for i := range guessers {
				src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)}), 5070)
				exchange(src, fmt.Sprint("user", i), fmt.Sprintf("g%d-%d", i, r), r, 403)
			}
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return n
}

// register is a phone's REGISTER, with credentials over nonce unless it is
// empty.
func register(src netip.AddrPort, user, callID string, cseq int, nonce string) string {
	m := "REGISTER sip:10.0.0.1 SIP/2.0\r\n" +
		fmt.Sprintf("Via: SIP/2.0/UDP %s;branch=z9hG4bK-%s-%d;rport\r\n", src, callID, cseq) +
		fmt.Sprintf("From: <sip:%s@10.0.0.1>;tag=%s\r\n", user, callID) +
		fmt.Sprintf("To: <sip:%s@10.0.0.1>\r\n", user) +
		"Call-ID: " + callID + "\r\n" +
		fmt.Sprintf("CSeq: %d REGISTER\r\n", cseq) +
		fmt.Sprintf("Contact: <sip:%s@%s>\r\n", user, src) +
		"User-Agent: Yealink SIP-T46S 66.86.0.15\r\nMax-Forwards: 70\r\nExpires: 3600\r\n"
	if nonce != "" {
		m += fmt.Sprintf(`Authorization: Digest username="%s", realm="10.0.0.1", nonce="%s", uri="sip:10.0.0.1", response="0123456789abcdef0123456789abcdef", algorithm=MD5`, user, nonce) + "\r\n"
	}
	return m + "Content-Length: 0\r\n\r\n"
}

// response is the server's answer to req, with a challenge over nonce
// unless it is empty.
func response(req string, status int, nonce string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "SIP/2.0 %d Whatever\r\n", status)
	for _, l := range strings.Split(req, "\r\n") {
		for _, h := range []string{"Via:", "From:", "To:", "Call-ID:", "CSeq:"} {
			if strings.HasPrefix(l, h) {
				b.WriteString(l)
				if h == "To:" {
					b.WriteString(";tag=s1")
				}
				b.WriteString("\r\n")
			}
		}
	}
	if nonce != "" {
		fmt.Fprintf(&b, "WWW-Authenticate: Digest realm=\"10.0.0.1\", nonce=\"%s\", algorithm=MD5, qop=\"auth\"\r\n", nonce)
	}
	b.WriteString("Server: sipgo\r\nContent-Length: 0\r\n\r\n")
	return b.String()
}
