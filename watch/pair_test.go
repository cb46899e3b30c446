package watch_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/detect"
	"github.com/sipban/sipban/watch"
)

var (
	phone  = netip.MustParseAddrPort("192.0.2.7:5062")
	server = netip.MustParseAddrPort("192.0.2.10:5060")
)

// register is a REGISTER from phone; auth adds digest credentials.
func register(callID string, cseq int, branch string, auth bool) string {
	m := "REGISTER sip:example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 192.0.2.7:5062;branch=" + branch + ";rport\r\n" +
		"From: <sip:alice@example.com>;tag=f1\r\n" +
		"To: <sip:alice@example.com>\r\n" +
		"Call-ID: " + callID + "\r\n" +
		fmt.Sprintf("CSeq: %d REGISTER\r\n", cseq) +
		"Contact: <sip:alice@192.0.2.7:5062>\r\n" +
		"User-Agent: Yealink SIP-T46S 66.86.0.15\r\n"
	if auth {
		m += `Authorization: Digest username="alice", realm="example.com", nonce="n", uri="sip:example.com", response="0123456789abcdef0123456789abcdef"` + "\r\n"
	}
	return m + "Content-Length: 0\r\n\r\n"
}

// answer is the server's response to req with status.
func answer(req string, status int) string {
	var keep []string
	for _, l := range strings.Split(req, "\r\n") {
		for _, h := range []string{"Via:", "From:", "To:", "Call-ID:", "CSeq:"} {
			if strings.HasPrefix(l, h) {
				keep = append(keep, l)
			}
		}
	}
	return fmt.Sprintf("SIP/2.0 %d Whatever\r\n%s\r\nContent-Length: 0\r\n\r\n", status, strings.Join(keep, "\r\n"))
}

type feeder struct {
	t      *testing.T
	p      *watch.Pairer
	now    time.Time
	events []detect.Event
}

func newFeeder(t *testing.T, opts watch.Options) *feeder {
	p, err := watch.NewPairer(opts)
	require.NoError(t, err)
	return &feeder{t: t, p: p, now: t0}
}

func (f *feeder) emit(ev *detect.Event) {
	e := *ev
	// Events alias the Pairer's buffers: keep copies.
	e.Method, e.Account, e.Target, e.UserAgent, e.CallID, e.Contact, e.Instance, e.Malformed =
		strings.Clone(e.Method), strings.Clone(e.Account), strings.Clone(e.Target), strings.Clone(e.UserAgent),
		strings.Clone(e.CallID), strings.Clone(e.Contact), strings.Clone(e.Instance), strings.Clone(e.Malformed)
	f.events = append(f.events, e)
}

func (f *feeder) send(transport string, src, dst netip.AddrPort, msg string) {
	f.now = f.now.Add(10 * time.Millisecond)
	f.p.Packet(&watch.Packet{Time: f.now, Src: src, Dst: dst, Transport: transport, Payload: []byte(msg)}, f.emit)
}

func TestPairerDigestExchange(t *testing.T) {
	f := newFeeder(t, watch.Options{})
	r1 := register("c1@phone", 1, "z9hG4bK-1", false)
	r2 := register("c1@phone", 2, "z9hG4bK-2", true)
	f.send("udp", phone, server, r1)
	f.send("udp", phone, server, r1) // a retransmission
	f.send("udp", server, phone, answer(r1, 100))
	f.send("udp", server, phone, answer(r1, 401))
	f.send("udp", phone, server, r2)
	f.send("udp", server, phone, answer(r2, 403))
	f.send("udp", phone, server, "ACK sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.7:5062;branch=z9hG4bK-2\r\nCall-ID: c1@phone\r\nCSeq: 2 ACK\r\n\r\n")
	f.send("udp", server, phone, answer(r2, 403)) // a retransmitted answer

	require.Len(t, f.events, 2)
	challenge, refusal := f.events[0], f.events[1]
	assert.Equal(t, detect.Event{Time: t0.Add(40 * time.Millisecond), Source: phone, Transport: "udp", Method: "REGISTER",
		Status: 401, Account: "alice", Target: "", UserAgent: "Yealink SIP-T46S 66.86.0.15", CallID: "c1@phone",
		Contact: "sip:alice@192.0.2.7:5062"}, challenge)
	assert.True(t, challenge.Challenged())
	assert.Equal(t, 403, refusal.Status)
	assert.True(t, refusal.Credentials)
	assert.True(t, refusal.Rejected())
	assert.Equal(t, "alice", refusal.Account, "the digest username")
	st := f.p.Stats()
	assert.Equal(t, watch.Stats{Messages: 8, Paired: 2, Retransmit: 1, Unmatched: 1, Ignored: 2}, st)
}

// A Contact's +sip.instance tells devices apart behind one address.
func TestPairerInstance(t *testing.T) {
	f := newFeeder(t, watch.Options{})
	r := strings.Replace(register("c9@phone", 1, "z9hG4bK-9", false), "Contact: <sip:alice@192.0.2.7:5062>",
		`Contact: <sip:alice@192.0.2.7:5062>;+sip.instance="<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>"`, 1)
	f.send("udp", phone, server, r)
	f.send("udp", server, phone, answer(r, 401))
	require.Len(t, f.events, 1)
	assert.Equal(t, "<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>", f.events[0].Instance)
}

func TestPairerUnanswered(t *testing.T) {
	f := newFeeder(t, watch.Options{Timeout: time.Second})
	inv := "INVITE sip:100@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.7:5062;branch=z9hG4bK-i\r\n" +
		"From: <sip:alice@example.com>;tag=x\r\nTo: <sip:100@example.com>\r\nCall-ID: inv1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
	f.send("udp", phone, server, inv)
	f.p.Expire(f.now.Add(999*time.Millisecond), f.emit)
	assert.Empty(t, f.events)
	f.p.Expire(f.now.Add(time.Second), f.emit)
	require.Len(t, f.events, 1)
	assert.Equal(t, 0, f.events[0].Status)
	assert.Equal(t, "INVITE", f.events[0].Method)
	assert.Equal(t, "100", f.events[0].Target)
	assert.Equal(t, "alice", f.events[0].Account, "the From user")
	assert.Equal(t, 1, f.p.Stats().Unanswered)
	f.send("udp", server, phone, answer(inv, 200))
	assert.Len(t, f.events, 1, "an answer after the timeout pairs with nothing")
}

func TestPairerBounded(t *testing.T) {
	f := newFeeder(t, watch.Options{MaxPending: 2})
	var reqs []string
	for i := range 3 {
		reqs = append(reqs, register(fmt.Sprint("c", i), 1, fmt.Sprint("z9hG4bK-", i), false))
		f.send("udp", phone, server, reqs[i])
	}
	for _, r := range reqs {
		f.send("udp", server, phone, answer(r, 401))
	}
	assert.Len(t, f.events, 2)
	assert.Equal(t, "c1", f.events[0].CallID, "the oldest was dropped")
	st := f.p.Stats()
	assert.Equal(t, 1, st.Evicted)
	assert.Equal(t, 1, st.Unmatched)
}

func TestPairerMalformedAndForeign(t *testing.T) {
	f := newFeeder(t, watch.Options{})
	f.send("udp", phone, server, "\x16\x03\x01 a TLS hello on the UDP port")
	f.send("udp", phone, server, "\r\n\r\n")                          // keep-alive
	f.send("tcp", phone, server, "half of a message from mid-stream") // TCP: no boundary
	f.send("udp", phone, netip.MustParseAddrPort("192.0.2.99:80"), "not to the server")
	f.send("udp", server, phone, register("from-server", 1, "z9hG4bK-s", false))
	require.Len(t, f.events, 1)
	assert.Equal(t, phone, f.events[0].Source)
	assert.Equal(t, "sipparse: not a SIP message", f.events[0].Malformed)
	assert.Equal(t, watch.Stats{Messages: 1, Malformed: 1, Ignored: 4}, f.p.Stats())
}

func TestPairerTCPSegments(t *testing.T) {
	f := newFeeder(t, watch.Options{})
	r1 := register("t1", 1, "z9hG4bK-t1", false)
	r2 := register("t2", 1, "z9hG4bK-t2", false)
	f.send("tcp", phone, server, r1+r2) // two messages in one segment
	f.send("tcp", server, phone, answer(r1, 401)+answer(r2, 401))
	require.Len(t, f.events, 2)
	assert.Equal(t, "tcp", f.events[0].Transport)
	assert.Equal(t, "t2", f.events[1].CallID)
}

func TestPairerOptions(t *testing.T) {
	for _, o := range []watch.Options{{Timeout: -1}, {MaxPending: -1}, {NonceWindow: -1}, {MaxNonces: -1}} {
		_, err := watch.NewPairer(o)
		assert.Error(t, err, "%+v", o)
	}
	// A server named by address: port 5060 elsewhere is a client.
	srv := netip.MustParseAddrPort("192.0.2.10:5080")
	f := newFeeder(t, watch.Options{Server: func(a netip.AddrPort) bool { return a == srv }})
	r := register("s1", 1, "z9hG4bK-s1", false)
	f.send("udp", netip.MustParseAddrPort("192.0.2.7:5060"), srv, r)
	f.send("udp", srv, netip.MustParseAddrPort("192.0.2.7:5060"), answer(r, 401))
	assert.Len(t, f.events, 1)
}

// challenge is the server's 401 (or 407, from a proxy) to req, carrying
// nonce in WWW-Authenticate (or Proxy-Authenticate).
func challenge(req string, status int, nonce string) string {
	h := "WWW-Authenticate"
	if status == 407 {
		h = "Proxy-Authenticate"
	}
	a := answer(req, status)
	i := strings.Index(a, "Content-Length:")
	return a[:i] + h + `: Digest realm="example.com", nonce="` + nonce + `", algorithm=MD5, qop="auth"` + "\r\n" + a[i:]
}

// withNonce puts nonce in the credentials of a register(..., true).
func withNonce(req, nonce string) string {
	return strings.Replace(req, `nonce="n"`, `nonce="`+nonce+`"`, 1)
}

// TestPairerProven follows digest exchanges as a capture shows them: a
// request is proven by a nonce the server sent to its source IP within the
// window, and by nothing else over UDP.
func TestPairerProven(t *testing.T) {
	office := netip.MustParseAddrPort("192.0.2.10:5062")
	neighbour := netip.MustParseAddrPort("192.0.2.11:5062")
	tests := []struct {
		name   string
		src    netip.AddrPort
		nonce  string
		after  time.Duration // since the challenge
		proven bool
	}{
		{"the nonce sent to the address", office, "4f1e", time.Second, true},
		{"from another port of the address (NAT)", netip.AddrPortFrom(office.Addr(), 40000), "4f1e", time.Second, true},
		{"at the end of the window", office, "4f1e", 5 * time.Minute, true},
		{"after the window", office, "4f1e", 5*time.Minute + time.Nanosecond, false},
		{"the same nonce from another address", neighbour, "4f1e", time.Second, false},
		{"a made-up nonce", office, "c0ffee", time.Second, false},
		{"no nonce", office, "", time.Second, false},
		{"captured a little before the challenge", office, "4f1e", -time.Second, true},
		{"long before the challenge", office, "4f1e", -2 * time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFeeder(t, watch.Options{})
			r1 := register("p1", 1, "z9hG4bK-p1", false)
			f.send("udp", office, server, r1)
			f.send("udp", server, office, challenge(r1, 401, "4f1e"))
			issued := f.now
			r2 := withNonce(register("p1", 2, "z9hG4bK-p2", true), tt.nonce)
			f.now = issued.Add(tt.after - 10*time.Millisecond)
			f.send("udp", tt.src, server, r2)
			f.send("udp", server, tt.src, answer(r2, 200))
			require.Len(t, f.events, 2)
			assert.False(t, f.events[0].Proven, "the challenged request proves nothing")
			assert.Equal(t, tt.proven, f.events[1].Proven)
			assert.Equal(t, 200, f.events[1].Status)
			st := f.p.Stats()
			assert.Equal(t, 1, st.Nonces)
			assert.Equal(t, map[bool]int{true: 1}[tt.proven], st.Proven)
		})
	}
}

// TestPairerProvenProxy: a 407's Proxy-Authenticate nonce proves the
// INVITE that answers it with Proxy-Authorization, and a window set in
// Options is kept.
func TestPairerProvenProxy(t *testing.T) {
	f := newFeeder(t, watch.Options{NonceWindow: time.Minute})
	inv := func(cseq int, auth string) string {
		return "INVITE sip:100@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.7:5062;branch=z9hG4bK-i" + fmt.Sprint(cseq) + "\r\n" +
			"From: <sip:alice@example.com>;tag=x\r\nTo: <sip:100@example.com>\r\nCall-ID: inv-proxy\r\n" +
			fmt.Sprintf("CSeq: %d INVITE\r\n", cseq) + auth + "Content-Length: 0\r\n\r\n"
	}
	i1 := inv(1, "")
	f.send("udp", phone, server, i1)
	f.send("udp", server, phone, challenge(i1, 407, "77aa"))
	i2 := inv(2, `Proxy-Authorization: Digest username="alice", realm="example.com", nonce="77aa", uri="sip:100@example.com", response="00"`+"\r\n")
	f.send("udp", phone, server, i2)
	f.send("udp", server, phone, answer(i2, 486))
	f.now = f.now.Add(time.Minute)
	i3 := strings.Replace(inv(3, `Proxy-Authorization: Digest username="alice", nonce="77aa", response="00"`+"\r\n"), "inv-proxy", "inv-late", 1)
	f.send("udp", phone, server, i3)
	f.send("udp", server, phone, answer(i3, 486))
	require.Len(t, f.events, 3)
	assert.True(t, f.events[0].Challenged())
	assert.True(t, f.events[1].Proven, "the 407's nonce")
	assert.False(t, f.events[2].Proven, "a minute and more after the 407")
}

// TestPairerSharedNonce: a server whose nonce depends on the time alone
// sends the same one to every client it challenges in the same second. A
// forger challenged then learns its victim's nonce: a nonce sent to two IPs
// proves nothing, for either, until it is older than the window.
func TestPairerSharedNonce(t *testing.T) {
	f := newFeeder(t, watch.Options{})
	victim, forger := netip.MustParseAddrPort("192.0.2.10:5062"), netip.MustParseAddrPort("203.0.113.66:5062")
	for _, src := range []netip.AddrPort{victim, forger} {
		r := register("c-"+src.String(), 1, "z9hG4bK-c", false)
		f.send("udp", src, server, r)
		f.send("udp", server, src, challenge(r, 401, "1766912400"))
	}
	for _, src := range []netip.AddrPort{victim, forger} {
		r := withNonce(register("a-"+src.String(), 2, "z9hG4bK-a", true), "1766912400")
		f.send("udp", src, server, r)
		f.send("udp", server, src, answer(r, 200))
	}
	require.Len(t, f.events, 4)
	assert.False(t, f.events[2].Proven, "the victim's own answer")
	assert.False(t, f.events[3].Proven, "the forger's")

	// Past the window, the same nonce sent to one IP proves again.
	f.now = f.now.Add(6 * time.Minute)
	r := register("later", 1, "z9hG4bK-l", false)
	f.send("udp", victim, server, r)
	f.send("udp", server, victim, challenge(r, 401, "1766912400"))
	r = withNonce(register("later", 2, "z9hG4bK-l2", true), "1766912400")
	f.send("udp", victim, server, r)
	f.send("udp", server, victim, answer(r, 200))
	assert.True(t, f.events[len(f.events)-1].Proven)
}

// TestPairerNoncesBounded: when the nonces a set holds are taken, the
// oldest is forgotten, counted, and proves nothing any more: fail closed.
func TestPairerNoncesBounded(t *testing.T) {
	f := newFeeder(t, watch.Options{MaxNonces: 1}) // rounded up to one set of 8
	for i := range 9 {
		r := register(fmt.Sprint("b", i), 1, fmt.Sprint("z9hG4bK-b", i), false)
		f.send("udp", phone, server, r)
		f.send("udp", server, phone, challenge(r, 401, fmt.Sprint("nonce-", i)))
	}
	st := f.p.Stats()
	assert.Equal(t, 9, st.Nonces)
	assert.Equal(t, 1, st.NoncesEvicted)
	for i, want := range map[int]bool{0: false, 1: true, 8: true} {
		r := withNonce(register(fmt.Sprint("a", i), 2, fmt.Sprint("z9hG4bK-a", i), true), fmt.Sprint("nonce-", i))
		f.send("udp", phone, server, r)
		f.send("udp", server, phone, answer(r, 200))
		assert.Equal(t, want, f.events[len(f.events)-1].Proven, "nonce-%d", i)
	}

	// Past the window, the oldest is replaced without counting an eviction.
	f.now = f.now.Add(time.Hour)
	r := register("late", 1, "z9hG4bK-late", false)
	f.send("udp", phone, server, r)
	f.send("udp", server, phone, challenge(r, 401, "nonce-late"))
	assert.Equal(t, 1, f.p.Stats().NoncesEvicted)
}

// TestPairerProvenTCP: a TCP request is proven when the server answers it on
// its connection; one never answered may be a forged segment, which a
// capture shows too.
func TestPairerProvenTCP(t *testing.T) {
	f := newFeeder(t, watch.Options{Timeout: time.Second})
	r := register("t1", 1, "z9hG4bK-t1", false)
	f.send("tcp", phone, server, r)
	f.send("tcp", server, phone, answer(r, 401))
	forged := register("t2", 1, "z9hG4bK-t2", true)
	f.send("tcp", phone, server, forged)
	f.p.Expire(f.now.Add(time.Second), f.emit)
	require.Len(t, f.events, 2)
	assert.True(t, f.events[0].Proven, "answered on the connection")
	assert.Equal(t, 0, f.events[1].Status)
	assert.False(t, f.events[1].Proven, "never answered")
	assert.Equal(t, 1, f.p.Stats().Proven)
}

// TestPairerAnswerToSource: a response pairs only with a request from the
// address it is sent to. A forger who sends a datagram as someone else, then
// the same transaction from its own address, must not have the server's
// answer to it attributed to the address it forged.
func TestPairerAnswerToSource(t *testing.T) {
	f := newFeeder(t, watch.Options{Timeout: time.Second})
	victim, forger := netip.MustParseAddrPort("192.0.2.10:5060"), netip.MustParseAddrPort("203.0.113.66:5060")
	r := register("same", 2, "z9hG4bK-same", true)
	f.send("udp", victim, server, r) // forged
	f.send("udp", forger, server, r) // real
	f.send("udp", server, forger, answer(r, 403))
	f.p.Expire(f.now.Add(time.Second), f.emit)
	require.Len(t, f.events, 2)
	assert.Equal(t, forger, f.events[0].Source)
	assert.Equal(t, 403, f.events[0].Status)
	assert.Equal(t, victim, f.events[1].Source)
	assert.Equal(t, 0, f.events[1].Status, "the forged copy is never answered")
	assert.Equal(t, 0, f.p.Stats().Retransmit)
}

// TestPairerCaptureProven reads examples/watch's capture of sipp registering
// as alice from 127.0.0.20 (right password) and as bob from 127.0.0.21
// (wrong one), ten times each, through the demo registrar's challenges: every
// REGISTER that answered a challenge is proven, the challenged ones are not.
func TestPairerCaptureProven(t *testing.T) {
	file, err := os.ReadFile(filepath.Join("..", "examples", "watch", "testdata", "guesser.pcapng"))
	require.NoError(t, err)
	f := newFeeder(t, watch.Options{})
	require.NoError(t, watch.ReadFile(bytes.NewReader(file), watch.NewDecoder(), func(pkt *watch.Packet) error {
		f.p.Packet(pkt, f.emit)
		return nil
	}))
	type tally struct {
		Source netip.Addr
		Status int
		Proven bool
	}
	got := map[tally]int{}
	for _, ev := range f.events {
		assert.Equal(t, ev.Credentials, ev.Proven, "%+v", ev)
		got[tally{ev.Source.Addr(), ev.Status, ev.Proven}]++
	}
	alice, bob := netip.MustParseAddr("127.0.0.20"), netip.MustParseAddr("127.0.0.21")
	assert.Equal(t, map[tally]int{
		{alice, 401, false}: 10, {alice, 200, true}: 10,
		{bob, 401, false}: 10, {bob, 403, true}: 10,
	}, got)
	st := f.p.Stats()
	assert.Equal(t, 20, st.Proven)
	assert.Equal(t, 20, st.Nonces)
	assert.Zero(t, st.NoncesEvicted)
}
