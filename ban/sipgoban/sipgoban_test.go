package sipgoban

import (
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

func TestJunk(t *testing.T) {
	for in, bad := range map[string]bool{
		"\r\n\r\n":                           false,
		register:                             false,
		"SIP/2.0 200 OK\r\n\r\n":             false,
		"\r\n\r\n" + register:                false,
		"OPTIONS sip:x sip/2.0\r\n":          false,
		"\x00\x01\x02binary":                 true,
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n":  true,
		"hi":                                 true,
		"INVITE " + strings.Repeat("a", 300): true,
	} {
		assert.Equal(t, bad, junk([]byte(in)) != "", "%q", in)
	}
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
}

func FuzzReadFilter(f *testing.F) {
	for _, s := range []string{register, "SIP/2.0 200 OK\r\n\r\n", "\r\n", "\x00", "INVITE sip:a SIP/2.0\n"} {
		f.Add([]byte(s))
	}
	g := newGuard(f)
	filter := ReadFilter(g)
	props := sip.TransportReadProps{Transport: "udp", RemoteAddr: &net.UDPAddr{IP: net.ParseIP("127.0.0.9"), Port: 5060}}
	f.Fuzz(func(t *testing.T, data []byte) {
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
	data := []byte(register)
	for _, bc := range []struct {
		name string
		ip   string
		keep bool
	}{{"banned", "10.0.1.1", false}, {"clean", "192.0.2.1", true}} {
		props := sip.TransportReadProps{Transport: "udp", RemoteAddr: &net.UDPAddr{IP: net.ParseIP(bc.ip), Port: 5060}}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if out, _ := f(props, data); (len(out) != 0) != bc.keep {
					b.Fatal("wrong verdict")
				}
			}
		})
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
