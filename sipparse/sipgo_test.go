package sipparse_test

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/sipban/sipban/sipparse"
)

const sdp = "v=0\r\no=- 3912739 3912739 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n" +
	"m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n" +
	"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n"

// digest returns the Authorization value a client sends for method and uri
// (RFC 2617 with qop=auth).
func digest(user, realm, password, method, uri, nonce string) string {
	h := func(s string) string { sum := md5.Sum([]byte(s)); return hex.EncodeToString(sum[:]) }
	const cnonce, nc = "0a4f113b", "00000001"
	resp := h(h(user+":"+realm+":"+password) + ":" + nonce + ":" + nc + ":" + cnonce + ":auth:" + h(method+":"+uri))
	return fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=MD5, cnonce="%s", qop=auth, nc=%s`,
		user, realm, nonce, uri, resp, cnonce, nc)
}

// newRequest builds a request the way a sipgo client does.
func newRequest(method sip.RequestMethod, to sip.Uri, cseq uint32) *sip.Request {
	req := sip.NewRequest(method, to)
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP",
		Host: "192.0.2.10", Port: 5060, Params: sip.NewParams()}
	via.Params.Add("branch", "z9hG4bK.8uIcKyS3u0bEFd5y")
	via.Params.Add("rport", "")
	req.AppendHeader(via)
	from := &sip.FromHeader{DisplayName: "Alice", Address: sip.Uri{Scheme: "sip", User: "alice", Host: "example.com"}, Params: sip.NewParams()}
	from.Params.Add("tag", "KsYgX0tZ1f")
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: to, Params: sip.NewParams()})
	callID := sip.CallIDHeader("7a3b3f38-5f06-4b5e-9d3a-0c1f1b2e6a11")
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: method})
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "alice", Host: "192.0.2.10", Port: 5060}})
	maxFwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(&maxFwd)
	req.AppendHeader(sip.NewHeader("User-Agent", "sipgo/1.7.2"))
	return req
}

// sipgoMessages returns the messages the comparison test builds with sipgo.
func sipgoMessages() map[string][]byte {
	registrar := sip.Uri{Scheme: "sip", Host: "example.com"}
	reg := newRequest(sip.REGISTER, registrar, 1)
	reg.AppendHeader(sip.NewHeader("Expires", "600"))
	reg.SetBody(nil)

	challenge := sip.NewResponseFromRequest(reg, 401, "Unauthorized", nil)
	challenge.AppendHeader(sip.NewHeader("WWW-Authenticate", `Digest realm="example.com", nonce="8a1f3c", algorithm=MD5, qop="auth"`))
	challenge.AppendHeader(sip.NewHeader("Server", "sipban-test"))

	authReg := newRequest(sip.REGISTER, registrar, 2)
	authReg.AppendHeader(sip.NewHeader("Expires", "600"))
	authReg.AppendHeader(sip.NewHeader("Authorization", digest("alice", "example.com", "secret", "REGISTER", "sip:example.com", "8a1f3c")))
	authReg.SetBody(nil)

	invite := newRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: "bob", Host: "example.com"}, 1)
	invite.AppendHeader(sip.NewHeader("Proxy-Authorization", digest("alice", "proxy.example.com", "secret", "INVITE", "sip:bob@example.com", "77aa")))
	ct := sip.ContentTypeHeader("application/sdp")
	invite.AppendHeader(&ct)
	invite.SetBody([]byte(sdp))

	ok := sip.NewResponseFromRequest(invite, 200, "OK", []byte(sdp))
	ok.To().Params.Add("tag", "bobtag1")
	ok.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "bob", Host: "198.51.100.7", Port: 5080}})

	return map[string][]byte{
		"REGISTER":             []byte(reg.String()),
		"401 with challenge":   []byte(challenge.String()),
		"REGISTER with digest": []byte(authReg.String()),
		"INVITE with SDP":      []byte(invite.String()),
		"200 OK to INVITE":     []byte(ok.String()),
	}
}

// sipgoDiffers lists the messages both parsers accept but read
// differently, and why.
var sipgoDiffers = map[string]string{
	"torture/badvers.dat": "sipgo accepts SIP/7.0; Parse returns ErrNotSIP",
	"torture/intmeth.dat": "sipgo upper-cases the method",
	"torture/inv2543.dat": "sipgo reports the body length as Content-Length when the header is absent",
	"torture/mcl01.dat":   "sipgo keeps one of two Content-Length values; Parse reports them",
	"torture/multi01.dat": "sipgo keeps one of two CSeq values; Parse reports them",
	"torture/wsinv.dat":   `sipgo loses tags written "tag = x" and keeps the space before ";" in the To host`,
}

// TestSameAsSipgo checks that Parse reads the values sipgo's own parser
// reads from the same bytes: messages built with sipgo, as sipp and a sipgo
// client sent them, and the RFC 4475 messages sipgo accepts.
func TestSameAsSipgo(t *testing.T) {
	msgs := sipgoMessages()
	for _, pattern := range []string{"sipp/*.sip", "sipgo/*.sip", "torture/*.dat"} {
		for name, b := range testdata(t, pattern) {
			msgs[pattern[:len(pattern)-6]+"/"+name] = b
		}
	}
	for _, name := range slices.Sorted(maps.Keys(msgs)) {
		b := msgs[name]
		t.Run(name, func(t *testing.T) {
			if why, ok := sipgoDiffers[name]; ok {
				t.Skip(why)
			}
			theirs, err := sip.ParseMessage(b)
			if err != nil {
				t.Skipf("sipgo: %v", err)
			}
			var m sipparse.Message
			if err := sipparse.Parse(b, &m); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want, got := sipgoFields(theirs), ourFields(&m)
			for _, k := range slices.Sorted(maps.Keys(want)) {
				if got[k] != want[k] {
					t.Errorf("%s: sipparse %q, sipgo %q", k, got[k], want[k])
				}
			}
			for k := range got {
				if _, ok := want[k]; !ok {
					t.Errorf("%s: sipparse %q, sipgo none", k, got[k])
				}
			}
		})
	}
}

// TestSipgoAuth checks the credentials and challenges in the messages built
// with sipgo, which sipgo itself does not parse.
func TestSipgoAuth(t *testing.T) {
	msgs := sipgoMessages()
	tests := []struct{ name, want string }{
		{"REGISTER", ""},
		{"401 with challenge", "challenge=Digest/example.com/8a1f3c"},
		{"REGISTER with digest", "auth=Digest/alice/example.com nonce=8a1f3c"},
		{"INVITE with SDP", "proxy-auth=Digest/alice/proxy.example.com nonce=77aa"},
	}
	for _, tt := range tests {
		var m sipparse.Message
		if err := sipparse.Parse(msgs[tt.name], &m); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got := extra(&sipparse.Message{Via: sipparse.Via{RPort: -1}, Expires: -1, Auth: m.Auth, Challenge: m.Challenge})
		if got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}

func portString(p int) string {
	if p == 0 {
		return ""
	}
	return strconv.Itoa(p)
}

func sipgoFields(msg sip.Message) map[string]string {
	f := map[string]string{}
	switch msg := msg.(type) {
	case *sip.Request:
		f["method"] = string(msg.Method)
		f["ruri"] = msg.Recipient.User + "@" + msg.Recipient.Host + ":" + portString(msg.Recipient.Port)
	case *sip.Response:
		f["status"] = strconv.Itoa(msg.StatusCode)
		f["reason"] = msg.Reason
	}
	if v := msg.Via(); v != nil {
		f["via"] = v.Transport + " " + v.Host + ":" + portString(v.Port)
		for _, p := range []string{"branch", "received", "rport"} {
			if s, ok := v.Params.Get(p); ok {
				f["via."+p] = s
			}
		}
	}
	if h := msg.From(); h != nil {
		f["from"] = h.DisplayName + " " + h.Address.User + "@" + h.Address.Host + ":" + portString(h.Address.Port)
		f["from.tag"], _ = h.Params.Get("tag")
	}
	if h := msg.To(); h != nil {
		f["to"] = h.DisplayName + " " + h.Address.User + "@" + h.Address.Host + ":" + portString(h.Address.Port)
		f["to.tag"], _ = h.Params.Get("tag")
	}
	if hs := msg.GetHeaders("Contact"); len(hs) > 0 {
		if h, ok := hs[0].(*sip.ContactHeader); ok {
			f["contact"] = h.Address.User + "@" + h.Address.Host + ":" + portString(h.Address.Port)
		}
	}
	if h := msg.CallID(); h != nil {
		f["call-id"] = h.Value()
	}
	if h := msg.CSeq(); h != nil {
		f["cseq"] = h.Value()
	}
	if h := msg.ContentLength(); h != nil {
		f["content-length"] = h.Value()
	}
	f["body"] = string(msg.Body())
	for _, name := range []string{"User-Agent", "Server", "Expires"} {
		if h := msg.GetHeaders(name); len(h) > 0 {
			f[name] = h[0].Value()
		}
	}
	return f
}

func ourFields(m *sipparse.Message) map[string]string {
	f := map[string]string{}
	if m.Request {
		f["method"] = string(m.Method)
		f["ruri"] = string(m.RequestURI.User) + "@" + string(m.RequestURI.Host) + ":" + portString(int(m.RequestURI.Port))
	} else {
		f["status"] = strconv.Itoa(m.Status)
		f["reason"] = string(m.Reason)
	}
	if m.Via.Transport != nil {
		f["via"] = string(m.Via.Transport) + " " + string(m.Via.Host) + ":" + portString(int(m.Via.Port))
		if m.Via.Branch != nil {
			f["via.branch"] = string(m.Via.Branch)
		}
		if m.Via.Received != nil {
			f["via.received"] = string(m.Via.Received)
		}
		if m.Via.RPort >= 0 {
			f["via.rport"] = portString(m.Via.RPort)
		}
	}
	for _, na := range []struct {
		key string
		v   *sipparse.NameAddr
	}{{"from", &m.From}, {"to", &m.To}} {
		if na.v.URI.Raw != nil {
			u := na.v.URI
			f[na.key] = string(na.v.Display) + " " + string(u.User) + "@" + string(u.Host) + ":" + portString(int(u.Port))
			f[na.key+".tag"] = string(na.v.Tag)
		}
	}
	if u := m.Contact.URI; u.Raw != nil {
		f["contact"] = string(u.User) + "@" + string(u.Host) + ":" + portString(int(u.Port))
	}
	if m.CallID != nil {
		f["call-id"] = string(m.CallID)
	}
	if m.CSeqMethod != nil {
		f["cseq"] = strconv.FormatUint(uint64(m.CSeq), 10) + " " + string(m.CSeqMethod)
	}
	if m.ContentLength >= 0 {
		f["content-length"] = strconv.Itoa(m.ContentLength)
	}
	f["body"] = string(m.Body)
	if m.UserAgent != nil {
		f["User-Agent"] = string(m.UserAgent)
	}
	if m.Server != nil {
		f["Server"] = string(m.Server)
	}
	if m.Expires >= 0 {
		f["Expires"] = strconv.Itoa(m.Expires)
	}
	return f
}
