package sipgoban

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/detect"
	"github.com/sipban/sipban/sipparse"
)

const register = "REGISTER sip:sipban.local SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 6.6.6.6:5060;branch=z9hG4bK776asdhds\r\n" +
	"Max-Forwards: 70\r\n" +
	"To: <sip:carol@sipban.local>\r\n" +
	"From: <sip:spoofed@sipban.local>;tag=1928301774\r\n" +
	"Call-ID: a84b4c76e66710@pc33\r\n" +
	"CSeq: 2 REGISTER\r\n" +
	"Contact: <sip:carol@6.6.6.6:5060>\r\n" +
	"User-Agent: Yealink SIP-T46S\r\n" +
	"Authorization: Digest username=\"carol\", realm=\"sipban.local\", nonce=\"abc\", uri=\"sip:sipban.local\", response=\"00\"\r\n" +
	"Content-Length: 0\r\n\r\n"

func TestEventFromRequest(t *testing.T) {
	msg, err := sip.ParseMessage([]byte(register))
	require.NoError(t, err)
	req := msg.(*sip.Request)
	req.SetSource("192.0.2.10:5062")
	req.SetTransport("UDP")
	ev := Event(req, 403)
	assert.Equal(t, netip.MustParseAddrPort("192.0.2.10:5062"), ev.Source, "from the transport, not Via or Contact")
	assert.Equal(t, "udp", ev.Transport)
	assert.Equal(t, "REGISTER", ev.Method)
	assert.Equal(t, "carol", ev.Account)
	assert.True(t, ev.Credentials)
	assert.True(t, ev.Rejected())
	assert.Equal(t, "Yealink SIP-T46S", ev.UserAgent)
	assert.Equal(t, "a84b4c76e66710@pc33", ev.CallID)
	assert.Equal(t, 403, ev.Status)
	assert.Empty(t, ev.Instance)

	// The Contact's +sip.instance tells devices apart, as sipparse reads it.
	withInstance := strings.Replace(register, "Contact: <sip:carol@6.6.6.6:5060>",
		`Contact: <sip:carol@6.6.6.6:5060>;reg-id=1;+sip.instance="<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>"`, 1)
	msg, err = sip.ParseMessage([]byte(withInstance))
	require.NoError(t, err)
	ev = Event(msg.(*sip.Request), 200)
	var m sipparse.Message
	err = sipparse.Parse([]byte(withInstance), &m)
	require.NoError(t, err)
	assert.Equal(t, "<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>", ev.Instance)
	assert.Equal(t, string(m.Contact.Instance), ev.Instance)
}

func TestUsername(t *testing.T) {
	for in, want := range map[string]string{
		`Digest username="alice", realm="x"`:        "alice",
		`Digest realm="x",username="bob",nonce="y"`: "bob",
		`Digest USERNAME = "eve"`:                   "eve",
		`Digest username=plain, realm="x"`:          "plain",
		`Digest myusername="no", username="yes"`:    "yes",
		`Digest username="unterminated`:             "",
		`Digest realm="username"`:                   "",
		``:                                          "",
		`Digest username=`:                          "",
	} {
		assert.Equal(t, want, Username(in), in)
	}
}

func TestStaleChallenge(t *testing.T) {
	res := sip.NewResponse(401, "Unauthorized")
	res.AppendHeader(sip.NewHeader("WWW-Authenticate", `Digest realm="x", nonce="n", stale=TRUE, algorithm=MD5`))
	assert.True(t, staleChallenge(res))
	res = sip.NewResponse(401, "Unauthorized")
	res.AppendHeader(sip.NewHeader("WWW-Authenticate", `Digest realm="stale=true", nonce="n", stale=false`))
	assert.False(t, staleChallenge(res))
	res = sip.NewResponse(403, "Forbidden")
	assert.False(t, staleChallenge(res))
}

// TestReadFilterVerdicts: what the filter drops and what it counts.
func TestReadFilterVerdicts(t *testing.T) {
	refused := files(t, "testdata/refused/*.sip")
	tests := []struct {
		name          string
		data          string
		pass, counted bool
	}{
		{"request", register, true, false},
		{"response", "SIP/2.0 200 OK\r\nCSeq: 1 OPTIONS\r\n\r\n", true, false},
		{"keep-alive", "\r\n\r\n", true, false},
		{"SIP/3.0, as sipgo takes it", "OPTIONS sip:x SIP/3.0\r\n\r\n", true, false},
		{"long keep-alive", "\r\n\r\n\r\n\r\n", false, false},
		{"NULs after CRLF", "\r\n\x00\x00\x00", false, false},
		{"CRLF before a request", "\r\n\r\n" + register, false, true},
		{"LF line ends", strings.ReplaceAll(register, "\r\n", "\n"), false, true},
		{"binary", "\x00\x01\x02binary", false, true},
		{"HTTP", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", false, true},
		{"first line cut short", "INVITE " + strings.Repeat("a", 300), false, true},
		{"bad CSeq", string(refused["cseq-too-big.sip"]), false, true},
		{"bad Via", string(refused["via-no-host.sip"]), false, true},
		{"Content-Length past the body", string(refused["content-length-past-body.sip"]), false, true},
		{"response with a bad status", string(refused["response-bad-status.sip"]), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGuard(t)
			f := ReadFilter(g)
			props := sip.TransportReadProps{Transport: "UDP", RemoteAddr: &net.UDPAddr{IP: net.ParseIP("192.0.2.60"), Port: 5060}}
			for range 10 {
				out, err := f(props, []byte(tt.data))
				require.NoError(t, err)
				if tt.pass {
					require.Equal(t, tt.data, string(out))
				} else {
					require.Empty(t, out)
				}
			}
			assert.Equal(t, tt.counted, g.Banned(netip.MustParseAddr("192.0.2.60")), "ten counted make a signalling ban")
		})
	}
}

func TestMalformedEvent(t *testing.T) {
	src := netip.MustParseAddrPort("192.0.2.61:5070")
	b := files(t, "testdata/refused/*.sip")["cseq-too-big.sip"]
	ev, ok := malformed(src, b, refusal(b))
	require.True(t, ok)
	assert.Equal(t, detect.Event{Source: src, Transport: "udp", Method: "REGISTER", Account: "alice",
		UserAgent: "friendly-phone 1.0", CallID: "a84b4c76e66710@pc33", Malformed: "bad CSeq"}, ev)

	b = []byte(strings.Replace(register, "CSeq: 2 REGISTER", "CSeq: x", 1))
	b = []byte(strings.Replace(string(b), "REGISTER sip:", "register sip:", 1))
	ev, ok = malformed(src, b, refusal(b))
	require.True(t, ok)
	assert.Equal(t, detect.Event{Source: src, Transport: "udp", Method: "REGISTER", Account: "carol", Credentials: true,
		UserAgent: "Yealink SIP-T46S", CallID: "a84b4c76e66710@pc33", Malformed: "bad CSeq"}, ev,
		"the method upper case, as sipgo gives it; the account from Authorization")

	ev, ok = malformed(src, []byte("\x16\x03\x01"), "x")
	assert.True(t, ok)
	assert.Equal(t, detect.Event{Source: src, Transport: "udp", Malformed: "x"}, ev, "not SIP: nothing read")
	_, ok = malformed(src, []byte("SIP/2.0 2x0 OK\r\n\r\n"), whyStatus)
	assert.False(t, ok, "responses are not counted")
}

// TestScannerMalformed: a malformed request still names its User-Agent,
// and a scanner's is banned at once.
func TestScannerMalformed(t *testing.T) {
	g := newGuard(t)
	f := ReadFilter(g)
	b := strings.Replace(string(files(t, "testdata/refused/*.sip")["via-no-host.sip"]), "friendly-phone 1.0", "friendly-scanner", 1)
	out, err := f(sip.TransportReadProps{Transport: "udp", RemoteAddr: &net.UDPAddr{IP: net.ParseIP("192.0.2.62"), Port: 5060}}, []byte(b))
	require.NoError(t, err)
	assert.Empty(t, out)
	require.True(t, g.Banned(netip.MustParseAddr("192.0.2.62")))
	assert.Equal(t, detect.Scanner, g.Bans()[0].Cause)
}

func newGuard(t testing.TB) *ban.Guard {
	g, err := ban.New(ban.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	return g
}

func TestReadFilter(t *testing.T) {
	g := newGuard(t)
	f := ReadFilter(g)
	src := &net.UDPAddr{IP: net.ParseIP("192.0.2.50"), Port: 5060}
	props := sip.TransportReadProps{Transport: "udp", RemoteAddr: src}
	out, err := f(props, []byte(register))
	require.NoError(t, err)
	assert.Equal(t, register, string(out))

	// Junk is dropped and counted; ten make a signalling ban.
	for range 10 {
		out, err = f(props, []byte("\x16\x03\x01 TLS hello"))
		require.NoError(t, err)
		assert.Empty(t, out)
	}
	require.True(t, g.Banned(netip.MustParseAddr("192.0.2.50")))
	rs := g.Bans()
	require.Len(t, rs, 1)
	assert.Equal(t, detect.Signalling, rs[0].Cause)

	out, err = f(props, []byte(register))
	require.NoError(t, err, "an error would stop sipgo's UDP loop")
	assert.Empty(t, out, "a banned source is dropped before parsing")

	mapped := &net.UDPAddr{IP: net.ParseIP("::ffff:192.0.2.50"), Port: 5060}
	out, _ = f(sip.TransportReadProps{Transport: "udp", RemoteAddr: mapped}, []byte(register))
	assert.Empty(t, out, "IPv4-mapped sources are the same source")
	out, _ = f(sip.TransportReadProps{Transport: "udp"}, []byte(register))
	assert.Equal(t, register, string(out), "no address, nothing to judge")

	tcp := &net.TCPAddr{IP: net.ParseIP("192.0.2.50"), Port: 5060}
	out, err = f(sip.TransportReadProps{Transport: "TCP", RemoteAddr: tcp}, []byte(register))
	assert.ErrorIs(t, err, ErrBanned, "a stream is cut")
	assert.Empty(t, out)
}

// FuzzReadFilter checks that the filter drops a datagram exactly when
// sipgo's UDP transport would fail to parse it, never changes or keeps what
// it passes, and never returns an error. Agreement is exact: there is no
// tolerated class. Were one needed, passing what sipgo refuses (a datagram
// not counted, and logged by sipgo) would be the error to allow, never
// dropping what sipgo accepts (a customer's request lost).
func FuzzReadFilter(f *testing.F) {
	for _, s := range []string{register, "SIP/2.0 200 OK\r\n\r\n", "\r\n", "\x00", "INVITE sip:a SIP/2.0\n"} {
		f.Add([]byte(s))
	}
	for _, dir := range []string{"testdata/refused/*.sip", "testdata/accepted/*.sip", "../../sipparse/testdata/torture/*.dat", "../../sipparse/testdata/sipp/*.sip"} {
		for _, b := range files(f, dir) {
			f.Add(b)
		}
	}
	g := newGuard(f)
	filter := ReadFilter(g)
	props := sip.TransportReadProps{Transport: "udp", RemoteAddr: &net.UDPAddr{IP: net.ParseIP("127.0.0.9"), Port: 5060}}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(bytes.Trim(data, "\x00")) == 0 {
			return // sipgo skips these before the filter.
		}
		orig := string(data)
		out, err := filter(props, data)
		if err != nil {
			t.Fatalf("filter returned %v; that would stop sipgo's UDP loop", err)
		}
		if len(out) != 0 && string(out) != orig {
			t.Fatalf("filter changed the datagram")
		}
		if string(data) != orig {
			t.Fatalf("filter wrote to the buffer")
		}
		if refuses, perr := sipgoRefuses(data); refuses != (len(out) == 0) {
			t.Fatalf("filter passes %v (%q), sipgo refuses %v (%v)", len(out) != 0, refusal(data), refuses, perr)
		}
		if g.Banned(netip.MustParseAddr("127.0.0.9")) {
			if _, err := g.Expire(context.Background(), g.Bans()[0].Until); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func FuzzUsername(f *testing.F) {
	for _, s := range []string{`Digest username="alice"`, `username=a,`, `Digest realm="x", username = "b"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cred string) {
		u := Username(cred)
		if !strings.Contains(cred, u) {
			t.Fatalf("username %q is not part of %q", u, cred)
		}
		if u != Username(cred) {
			t.Fatal("not deterministic")
		}
	})
}

func BenchmarkReadFilter(b *testing.B) {
	g := newGuard(b)
	for i := range 100_000 {
		ev := detect.Event{Source: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 5060), UserAgent: "friendly-scanner", Method: "OPTIONS"}
		_ = g.Observe(context.Background(), &ev)
	}
	f := ReadFilter(g)
	invite := files(b, "../../sipparse/testdata/sipp/invite-sdp.sip")["invite-sdp.sip"]
	for _, bc := range []struct {
		name string
		ip   string
		data []byte
		keep bool
	}{
		{"banned", "10.0.1.1", []byte(register), false},
		{"clean", "192.0.2.1", []byte(register), true},
		{"clean-invite-sdp", "192.0.2.1", invite, true},
	} {
		props := sip.TransportReadProps{Transport: "udp", RemoteAddr: &net.UDPAddr{IP: net.ParseIP(bc.ip), Port: 5060}}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if out, _ := f(props, bc.data); (len(out) != 0) != bc.keep {
					b.Fatal("wrong verdict")
				}
			}
		})
	}
}

// BenchmarkJudge compares what the filter may run on a datagram: Sniff (the
// first line, the old check), refusal (sipgo's verdict), sipparse.Parse
// (the fields of an event) and sipgo's own parser, on an accepted REGISTER
// and on a refused one; and malformed, the event built for a refused one.
func BenchmarkJudge(b *testing.B) {
	ok := []byte(register)
	bad := files(b, "testdata/refused/cseq-too-big.sip")["cseq-too-big.sip"]
	for _, in := range []struct {
		name string
		data []byte
	}{{"accepted", ok}, {"refused", bad}} {
		for _, bc := range []struct {
			name string
			run  func([]byte)
		}{
			{"Sniff", func(d []byte) { _ = sipparse.Sniff(d) }},
			{"refusal", func(d []byte) { _ = refusal(d) }},
			{"sipparse.Parse", func(d []byte) { var m sipparse.Message; _ = sipparse.Parse(d, &m) }},
			{"sipgo", func(d []byte) { _, _ = sip.ParseMessage(d) }},
		} {
			b.Run(in.name+"/"+bc.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					bc.run(in.data)
				}
			})
		}
	}
	b.Run("refused/malformed", func(b *testing.B) {
		b.ReportAllocs()
		src := netip.MustParseAddrPort("192.0.2.1:5060")
		for b.Loop() {
			if _, ok := malformed(src, bad, whyHeader[hCSeq]); !ok {
				b.Fatal("not counted")
			}
		}
	})
}

// BenchmarkEvent builds the event of a REGISTER with digest credentials,
// as Wrap does for every transaction.
func BenchmarkEvent(b *testing.B) {
	msg, err := sip.ParseMessage([]byte("REGISTER sip:sipban.local SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-1\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <sip:alice@sipban.local>;tag=1\r\n" +
		"To: <sip:alice@sipban.local>\r\n" +
		"Call-ID: bench-1\r\n" +
		"CSeq: 2 REGISTER\r\n" +
		"Contact: <sip:alice@192.0.2.1:5060>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000000000001>\"\r\n" +
		"Expires: 3600\r\n" +
		"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\n" +
		"User-Agent: Grandstream GXP2170 1.0.11.23\r\n" +
		"Authorization: Digest username=\"alice\", realm=\"sipban.local\", nonce=\"abc\", uri=\"sip:sipban.local\", response=\"0123456789abcdef0123456789abcdef\", algorithm=MD5\r\n" +
		"Content-Length: 0\r\n\r\n"))
	if err != nil {
		b.Fatal(err)
	}
	req := msg.(*sip.Request)
	req.SetSource("192.0.2.1:5060")
	req.SetTransport("UDP") // as sipgo's transport layer sets it
	b.ReportAllocs()
	for b.Loop() {
		if ev := Event(req, 200); ev.Account != "alice" || ev.UserAgent == "" {
			b.Fatalf("event %+v", ev)
		}
	}
}

// answerTx is a server transaction that notes, as each final response
// leaves, whether its source was already banned.
type answerTx struct {
	sip.ServerTransaction
	g            *ban.Guard
	source       netip.Addr
	bannedAtSend []bool
}

func (a *answerTx) Respond(*sip.Response) error {
	a.bannedAtSend = append(a.bannedAtSend, a.g.Banned(a.source))
	return nil
}

// TestJudgedBeforeAnswer: the Guard has judged a transaction, and banned
// if it must, before the final response is sent; the client cannot read the
// fifth 403 and try again ahead of the ban.
func TestJudgedBeforeAnswer(t *testing.T) {
	g := newGuard(t)
	h := Wrap(g, func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 403, "Forbidden", nil))
	})
	tx := &answerTx{g: g, source: netip.MustParseAddr("192.0.2.10")}
	for range 5 {
		msg, err := sip.ParseMessage([]byte(register))
		require.NoError(t, err)
		req := msg.(*sip.Request)
		req.SetSource("192.0.2.10:5062")
		req.SetTransport("UDP")
		h(req, tx)
	}
	assert.Equal(t, []bool{false, false, false, false, true}, tx.bannedAtSend)
}

func TestTransport(t *testing.T) {
	for in, want := range map[string]string{"UDP": "udp", "udp": "udp", "Tls": "tls", "WSS": "wss", "XYZ": "xyz", "": ""} {
		if got := transport(in); got != want {
			t.Errorf("transport(%q) = %q, want %q", in, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = transport("UDP") }); n != 0 {
		t.Errorf("transport(\"UDP\") allocates %v times", n)
	}
}

// statusTx is a server transaction that keeps the statuses it sent.
type statusTx struct {
	sip.ServerTransaction
	sent []int
}

func (s *statusTx) Respond(res *sip.Response) error {
	s.sent = append(s.sent, int(res.StatusCode))
	return nil
}

// TestGuardedCountsGuesses: a guard refuses a stranger's every request, but
// counts only those a password could be tried with: a roaming phone's BYEs
// and OPTIONS do not get its address banned; its REGISTERs do, at the 5th.
func TestGuardedCountsGuesses(t *testing.T) {
	g := newGuard(t)
	ctx := context.Background()
	for a := range 3 {
		for range 3 {
			ev := detect.Event{Source: netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(a + 1)}), 5060), Transport: "udp",
				Method: "REGISTER", Account: "carol", Credentials: true, Proven: true, Status: 403}
			require.NoError(t, g.Observe(ctx, &ev))
		}
	}
	r, ok := g.Record(detect.Subject{Account: "carol"})
	require.True(t, ok, "carol is guarded")
	require.Equal(t, ban.ScopeGuard, r.Scope)

	h := Wrap(g, func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	const roaming = "203.0.113.9"
	send := func(method sip.RequestMethod, creds bool) *statusTx {
		req := sip.NewRequest(method, sip.Uri{User: "carol", Host: "sipban.local"})
		req.AppendHeader(&sip.FromHeader{Address: sip.Uri{User: "carol", Host: "sipban.local"}, Params: sip.NewParams()})
		req.AppendHeader(&sip.ToHeader{Address: sip.Uri{User: "carol", Host: "sipban.local"}, Params: sip.NewParams()})
		if creds {
			req.AppendHeader(sip.NewHeader("Authorization", `Digest username="carol", realm="sipban.local", nonce="n", uri="sip:sipban.local", response="00"`))
		}
		req.SetSource(roaming + ":5060")
		req.SetTransport("UDP")
		tx := &statusTx{}
		h(req, tx)
		return tx
	}
	for range 10 {
		assert.Equal(t, []int{403}, send(sip.BYE, false).sent)
		assert.Equal(t, []int{403}, send(sip.OPTIONS, false).sent)
		assert.Empty(t, send(sip.ACK, false).sent, "an ACK has no answer")
	}
	require.False(t, g.Banned(netip.MustParseAddr(roaming)), "refused BYEs and OPTIONS got the address banned")
	assert.Equal(t, []int{403}, send(sip.OPTIONS, true).sent, "credentials on any request are a guess")
	for range 4 {
		send(sip.REGISTER, false)
	}
	assert.True(t, g.Banned(netip.MustParseAddr(roaming)), "banned at the 5th guess")
}
