// Package watch protects SIP servers that are not written in Go (Asterisk,
// FreeSWITCH, Kamailio, or any stack whose hooks give you packets) by
// watching their traffic: a capture file, a mirror port, a live interface,
// or the server's own mirror of its SIP over HEP.
//
// Four parts, each usable alone:
//
//   - Decoder turns link-layer frames (Ethernet, 802.1Q, Linux cooked SLL
//     and SLL2, BSD loopback, raw IP; IPv4 and IPv6) into Packets: source,
//     destination, transport and payload of a UDP datagram or TCP segment.
//   - ReadFile reads pcap and pcapng files (github.com/gopacket/gopacket/pcapgo,
//     pure Go); OpenLive captures on a Linux interface (AF_PACKET).
//     ReadParsed reads a file too, with the reading on a goroutine of its
//     own and the SIP parse on as many as there are cores (up to four), and
//     hands on each packet parsed, in order (Parsed).
//   - HEPDecoder turns HEP (Homer encapsulation protocol: HEPv3, and
//     HEPv1/v2 over UDP) into the same Packets, and HEPServer receives it
//     over UDP and TCP. Every server named above can send it, and so
//     mirrors SIP over TLS decrypted, which no capture reads;
//     watch/README.md has the lines each needs. Destinations finds the
//     server in its own mirror. HEP is unauthenticated: listen where only
//     the SIP server reaches, and set an auth key.
//   - Pairer reads each packet's SIP messages with sipparse and pairs a
//     request to the server with the server's final response (Call-ID,
//     CSeq and top Via branch), making one detect.Event per transaction.
//     Requests left unanswered past a timeout become Events with Status 0,
//     and unreadable datagrams to the server become signalling Events.
//     It remembers the nonces of the server's 401 and 407 challenges per
//     client IP, and marks an Event Proven (detect.Event.Proven) when its
//     request answered a nonce the server sent to that very IP within
//     Options.NonceWindow, or came over TCP and was answered there: a
//     forged UDP datagram never is. Memory is bounded by Options.MaxPending
//     and Options.MaxNonces.
//
// Feed the Events to a ban.Guard; examples/watch is the whole program:
//
//	d := watch.NewDecoder()
//	p, _ := watch.NewPairer(watch.Options{})
//	err := watch.ReadFile(f, d, func(pkt *watch.Packet) error {
//		p.Packet(pkt, func(ev *detect.Event) { g.Observe(ctx, ev) })
//		return nil
//	})
//
// On two cores or more, ReadParsed reads a file faster; Pairer.Parsed
// pairs what it hands on:
//
//	err := watch.ReadParsed(f, d, func(pp *watch.Parsed) error {
//		p.Parsed(pp, func(ev *detect.Event) { g.Observe(ctx, ev) })
//		return nil
//	})
//
// From HEP, HEPServer.Serve calls the same function (pc and ln listen on
// one port, UDP and TCP); Destinations, learning from each packet first,
// can be the Pairer's Options.Server:
//
//	s, _ := watch.NewHEPServer(watch.HEPOptions{AuthKey: key})
//	err := s.Serve(ctx, pc, ln, fn)
//
// Limits: IP fragments are skipped (Decoder.Skipped counts them), and TCP is
// read segment by segment without reassembly, so a message split across
// segments is not read; HEP carries whole messages. A server's answer is
// attributed to the request's source address as captured: capture where
// the server sees its clients' real addresses. Capture on the server's own
// host, or take HEP from it: there OpenLive drops an incoming packet "from"
// one of the host's addresses, so an attacker cannot forge the server's
// answers to prove a forged request; on a mirror port a forged answer
// looks like the server's. HEP times packets to the
// microsecond, and Kamailio marks TLS and WebSocket as one IP protocol
// (22), read as tcp.
//
// # Numbers
//
// Measured on a 2-core AMD EPYC VM (slower than the one of earlier
// numbers), with `go test -run '^$' -bench . -benchmem -cpu 1 ./watch`:
// 1,000 phones registering through a digest challenge (REGISTER, 401,
// REGISTER with credentials, 200), 16,000 messages; ranges are of three
// runs interleaved with the code before ReadParsed (in brackets), the third
// in a slow spell for both.
//
//   - Pairer alone, packets in memory (parse included): 757–813 ns per
//     message, 1.23–1.32 million messages per second, 0 allocations, and
//     1,280 ns in the slow spell (764–850 ns).
//   - HEPv3 decoding and pairing: 749–1,050 ns, 0.95–1.34 million per
//     second, 0 allocations (777–917 ns).
//   - Reading a pcap file from memory, decoding and pairing: ReadFile
//     0.87–1.03 million messages per second, 165 allocations per file;
//     ReadParsed 0.90–1.18 million, then 1,226 allocations per file (its
//     batches; 2,271 now that eight are in flight), none per message
//     (0.81–1.07 million). With -cpu 2, three
//     runs: ReadFile 0.71–0.95 million, ReadParsed 1.06–1.19 million; in a
//     slower spell, three runs interleaved with the parse on one goroutine
//     (in brackets): 0.81–0.91 million (0.75–0.83 million), 2,271
//     allocations per file.
//   - The whole of examples/watch on an 800,000-message capture file, 1,000
//     bans (its BenchmarkCapture, which reads with ReadParsed), six runs
//     with -cpu 2 interleaved with the parse on one goroutine (in
//     brackets): 791,000–1,113,000 messages per second, median 1,012,000,
//     four of six at or above 1,000,000 (745,000–961,000, median 830,000);
//     1.7–2.3 µs of CPU per message for both, as the VM's spells go.
package watch
