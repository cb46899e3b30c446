package watch_test

import (
	"fmt"
	"net/netip"
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
	e.Method, e.Account, e.Target, e.UserAgent, e.CallID, e.Contact, e.Malformed =
		strings.Clone(e.Method), strings.Clone(e.Account), strings.Clone(e.Target), strings.Clone(e.UserAgent),
		strings.Clone(e.CallID), strings.Clone(e.Contact), strings.Clone(e.Malformed)
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
	for _, o := range []watch.Options{{Timeout: -1}, {MaxPending: -1}} {
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
