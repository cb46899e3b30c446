package sipparse_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/sipban/sipban/sipparse"
)

// crlf turns the LF line ends of a test message into CRLF.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

const register = `REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776;rport
From: <sip:alice@example.com>;tag=a1
To: <sip:alice@example.com>
Call-ID: c1@192.0.2.10
CSeq: 2 REGISTER
Contact: <sip:alice@192.0.2.10:5060>
Authorization: Digest username="alice", realm="example.com", nonce="n1", uri="sip:example.com", response="0123456789abcdef0123456789abcdef", algorithm=MD5
User-Agent: Yealink SIP-T46S 66.86.0.15
Expires: 3600
Content-Length: 0

`

// regView is what Parse reads from register.
var regView = view{
	Method:  "REGISTER",
	URI:     "sip:example.com",
	Via:     "UDP 192.0.2.10:5060 z9hG4bK776",
	From:    "sip:alice@example.com;tag=a1",
	To:      "sip:alice@example.com",
	Contact: "sip:alice@192.0.2.10:5060",
	CallID:  "c1@192.0.2.10",
	CSeq:    "2 REGISTER",
	Len:     whole,
	Extra:   "rport expires=3600 ua=Yealink SIP-T46S 66.86.0.15 auth=Digest/alice/example.com nonce=n1",
}

// whole stands for len(input) as view.Len in test tables.
const whole = -2

func TestParse(t *testing.T) {
	long := "OPTIONS sip:a@example.com SIP/2.0\r\nX: " + strings.Repeat("x", sipparse.MaxHeaderBytes) + "\r\n\r\n"
	tests := []struct {
		name string
		in   string
		want view
	}{
		{"register", crlf(register), regView},
		{"bare LF line ends", register, regView},
		{"CRLFs before the start line", "\r\n\r\n" + crlf(register), regView},

		{"keep-alive CRLFCRLF", "\r\n\r\n", view{Err: "KeepAlive", ContentLength: -1, Len: 4}},
		{"keep-alive CRLF", "\r\n", view{Err: "KeepAlive", ContentLength: -1, Len: 2}},
		{"keep-alive NULs", "\x00\x00\x00\x00", view{Err: "KeepAlive", ContentLength: -1, Len: 4}},
		{"empty", "", view{Err: "Truncated", ContentLength: -1}},

		{"HTTP", "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", view{Err: "NotSIP", ContentLength: -1}},
		{"TLS hello", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", view{Err: "NotSIP", ContentLength: -1}},
		{"NUL before start line", "\x00" + crlf(register), view{Err: "NotSIP", ContentLength: -1}},
		{"no method", " sip:a@example.com SIP/2.0\r\n\r\n", view{Err: "NotSIP", ContentLength: -1}},
		{"other version", "OPTIONS sip:a@example.com SIP/3.0\r\n\r\n", view{Err: "NotSIP", ContentLength: -1}},
		{"start line only, unfinished", "INVITE sip:bob@exa", view{Err: "Truncated", ContentLength: -1}},
		{"status line, unfinished", "SIP/2", view{Err: "Truncated", ContentLength: -1}},

		{"compact forms", crlf(`INVITE sip:bob@example.com SIP/2.0
v: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bKc
f: "Al" <sip:al@example.com>;tag=f1
t: sip:bob@example.com
i: compact@192.0.2.1
m: <sip:al@192.0.2.1;transport=tcp>
CSeq: 1 INVITE
l: 3

abc`), view{Method: "INVITE", URI: "sip:bob@example.com", Via: "TCP 192.0.2.1 z9hG4bKc",
			From: `"Al" sip:al@example.com;tag=f1`, To: "sip:bob@example.com", Contact: "sip:al@192.0.2.1",
			CallID: "compact@192.0.2.1", CSeq: "1 INVITE", ContentLength: 3, Body: 3, Len: whole}},

		{"header names in any case", crlf(`OPTIONS sip:bob@example.com SIP/2.0
VIA: SIP/2.0/UDP h.example.com;BRANCH=z9hG4bKx
fRoM: <sip:a@example.com>;TAG=t
CALL-ID: x
cSeQ: 3 OPTIONS
CONTENT-LENGTH: 0

`), view{Method: "OPTIONS", URI: "sip:bob@example.com", Via: "UDP h.example.com z9hG4bKx",
			From: "sip:a@example.com;tag=t", CallID: "x", CSeq: "3 OPTIONS", Len: whole}},

		{"folded values", crlf(`OPTIONS sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP
	h.example.com
  ;branch=z9hG4bKf
Call-ID:
 folded
CSeq: 7
 OPTIONS
Content-Length: 0

`), view{Method: "OPTIONS", URI: "sip:bob@example.com", Via: "UDP h.example.com z9hG4bKf",
			CallID: "folded", CSeq: "7 OPTIONS", Len: whole}},

		{"Via list and IPv6", crlf(`SIP/2.0 200 OK
Via: SIP/2.0/UDP [2001:db8::9:1]:5070;received=2001:db8::1;rport=40000;branch=z9hG4bK1, SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK2
Via: SIP/2.0/UDP 192.0.2.3;branch=z9hG4bK3
Content-Length: 0

`), view{Method: "200 OK", Via: "UDP 2001:db8::9:1:5070 z9hG4bK1", Len: whole,
			Extra: "rport=40000 received=2001:db8::1"}},

		{"Contact list", crlf(`REGISTER sips:example.com SIP/2.0
Contact: "Doe, <John>" <sips:john@[2001:db8::5]:5061;transport=tls>;expires=60, <sip:j2@example.com>
Contact: <sip:j3@example.com>

`), view{Method: "REGISTER", URI: "sips:example.com", Contact: `"Doe, <John>" sips:john@2001:db8::5:5061`,
			ContentLength: -1, Len: whole}},

		{"Contact instance", crlf(`REGISTER sip:example.com SIP/2.0
Contact: <sip:alice@192.0.2.7:5062;ob>;reg-id=1;+SIP.Instance="<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>";expires=600

`), view{Method: "REGISTER", URI: "sip:example.com", Contact: "sip:alice@192.0.2.7:5062", ContentLength: -1, Len: whole,
			Extra: "instance=<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"}},

		{"Contact star", crlf(`REGISTER sip:example.com SIP/2.0
Contact: *
Expires: 0

`), view{Method: "REGISTER", URI: "sip:example.com", Contact: "*", ContentLength: -1, Len: whole, Extra: "expires=0"}},

		{"tags inside and outside brackets", crlf(`OPTIONS tel:+1-201-555-0123;phone-context=example.com SIP/2.0
From: <sip:a@example.com;tag=uri>;tag=header
To: sip:b@example.com;tag=header2
l: 0

`), view{Method: "OPTIONS", URI: "tel:+1-201-555-0123", From: "sip:a@example.com;tag=header",
			To: "sip:b@example.com;tag=header2", Len: whole}},

		{"display names", crlf(`OPTIONS sip:b@example.com SIP/2.0
From: "A \"quoted\" name" <sip:a@example.com>;tag=1
To: Bob  Smith <sip:b@example.com>
l: 0

`), view{Method: "OPTIONS", URI: "sip:b@example.com", From: `"A \"quoted\" name" sip:a@example.com;tag=1`,
			To: `"Bob  Smith" sip:b@example.com`, Len: whole}},

		{"Proxy-Authorization", crlf(`INVITE sip:b@example.com SIP/2.0
Proxy-Authorization: Digest realm="r", username="al\"ice", nonce="n"
l: 0

`), view{Method: "INVITE", URI: "sip:b@example.com", Len: whole, Extra: `proxy-auth=Digest/al\"ice/r nonce=n`}},

		{"Authorization wins over Proxy-Authorization", crlf(`INVITE sip:b@example.com SIP/2.0
Proxy-Authorization: Digest username="proxy"
Authorization: Digest username="ua"
Authorization: Digest username="second"
l: 0

`), view{Method: "INVITE", URI: "sip:b@example.com", Len: whole, Extra: `auth=Digest/ua/`}},

		{"Authorization unreadable", crlf(`REGISTER sip:example.com SIP/2.0
Authorization: Digest username="alice
l: 0

`), view{Err: "Malformed Authorization", Method: "REGISTER", URI: "sip:example.com", Len: whole, Extra: "auth=//"}},

		{"Server", crlf(`SIP/2.0 401 Unauthorized
WWW-Authenticate: Digest realm="example.com", nonce="n"
Server: Asterisk PBX 20.5.0
l: 0

`), view{Method: "401 Unauthorized", Len: whole, Extra: "server=Asterisk PBX 20.5.0 challenge=Digest/example.com/n"}},

		{"nonce, not cnonce; unquoted", crlf(`REGISTER sip:example.com SIP/2.0
Authorization: Digest username="alice",cnonce="c0ffee",nc=00000001,qop=auth,nonce=3a9f,realm="example.com"
l: 0

`), view{Method: "REGISTER", URI: "sip:example.com", Len: whole, Extra: "auth=Digest/alice/example.com nonce=3a9f"}},
		{"an empty nonce is absent", crlf(`REGISTER sip:example.com SIP/2.0
Authorization: Digest username="alice", nonce=""
l: 0

`), view{Method: "REGISTER", URI: "sip:example.com", Len: whole, Extra: "auth=Digest/alice/"}},
		{"the first nonce counts", crlf(`REGISTER sip:example.com SIP/2.0
Authorization: Digest username="alice", nonce="first", nonce="second"
l: 0

`), view{Method: "REGISTER", URI: "sip:example.com", Len: whole, Extra: "auth=Digest/alice/ nonce=first"}},
		{"WWW-Authenticate as sipgo's registrar sends it", crlf(`SIP/2.0 401 Unauthorized
WWW-Authenticate: Digest realm="sipban.local", nonce="GOqBxvOa7cD8S-Co_Nsi0c0SCTmfjlBXZLJ3twyzppE", algorithm=MD5, qop="auth"
Content-Length: 0

`), view{Method: "401 Unauthorized", Len: whole, Extra: "challenge=Digest/sipban.local/GOqBxvOa7cD8S-Co_Nsi0c0SCTmfjlBXZLJ3twyzppE"}},
		{"Proxy-Authenticate, folded, odd case", crlf(`SIP/2.0 407 Proxy Authentication Required
PROXY-AUTHENTICATE: digest
  realm = "proxy.example.com" ,
  NONCE = "b7f1"
l: 0

`), view{Method: "407 Proxy Authentication Required", Len: whole, Extra: "proxy-challenge=digest/proxy.example.com/b7f1"}},
		{"the first WWW-Authenticate wins over Proxy-Authenticate", crlf(`SIP/2.0 401 Unauthorized
Proxy-Authenticate: Digest realm="p", nonce="proxy"
WWW-Authenticate: Digest realm="a", nonce="sha", algorithm=SHA-256
WWW-Authenticate: Digest realm="a", nonce="md5", algorithm=MD5
l: 0

`), view{Method: "401 Unauthorized", Len: whole, Extra: "challenge=Digest/a/sha"}},
		{"challenges listed in one header: the first counts", crlf(`SIP/2.0 401 Unauthorized
WWW-Authenticate: Digest realm="a", nonce="n1", Basic realm="b"
l: 0

`), view{Method: "401 Unauthorized", Len: whole, Extra: "challenge=Digest/a/n1"}},
		{"another scheme's challenge", crlf(`SIP/2.0 401 Unauthorized
WWW-Authenticate: Bearer realm="a", nonce="not read"
l: 0

`), view{Method: "401 Unauthorized", Len: whole, Extra: "challenge=Bearer//"}},
		{"WWW-Authenticate unreadable", crlf(`SIP/2.0 401 Unauthorized
WWW-Authenticate: Digest realm="a", nonce="n1
l: 0

`), view{Err: "Malformed WWW-Authenticate", Method: "401 Unauthorized", Len: whole, Extra: "challenge=//"}},
		{"Proxy-Authenticate unreadable", crlf(`SIP/2.0 407 Proxy Authentication Required
Proxy-Authenticate: Digest realm="a" nonce="n1"
l: 0

`), view{Err: "Malformed Proxy-Authenticate", Method: "407 Proxy Authentication Required", Len: whole, Extra: "proxy-challenge=//"}},
		{"credentials are not a challenge's scheme list", crlf(`REGISTER sip:example.com SIP/2.0
Authorization: Digest username="alice", nonce="n1" Basic x
l: 0

`), view{Err: "Malformed Authorization", Method: "REGISTER", URI: "sip:example.com", Len: whole, Extra: "auth=//"}},

		{"status line without reason", "SIP/2.0 180\r\n\r\n", view{Method: "180 ", ContentLength: -1, Len: whole}},
		{"lower-case version", "sip/2.0 200 OK\r\n\r\n", view{Method: "200 OK", ContentLength: -1, Len: whole}},

		{"datagram longer than Content-Length", crlf("OPTIONS sip:b@example.com SIP/2.0\nl: 2\n\nabcdef"),
			view{Method: "OPTIONS", URI: "sip:b@example.com", ContentLength: 2, Body: 2, Len: 45}},
		{"no Content-Length: body is the rest", crlf("OPTIONS sip:b@example.com SIP/2.0\n\nabcdef"),
			view{Method: "OPTIONS", URI: "sip:b@example.com", ContentLength: -1, Body: 6, Len: whole}},
		{"body shorter than Content-Length", crlf("OPTIONS sip:b@example.com SIP/2.0\nCall-ID: x\nl: 10\n\nabc"),
			view{Err: "Truncated", Method: "OPTIONS", URI: "sip:b@example.com", CallID: "x", ContentLength: 10}},
		{"headers not terminated", crlf("OPTIONS sip:b@example.com SIP/2.0\nCall-ID: x\nCSeq: 1 OPT"),
			view{Err: "Truncated", Method: "OPTIONS", URI: "sip:b@example.com", CallID: "x", ContentLength: -1}},
		{"blank line half there", "OPTIONS sip:b@example.com SIP/2.0\r\nCall-ID: x\r\n\r",
			view{Err: "Truncated", Method: "OPTIONS", URI: "sip:b@example.com", CallID: "x", ContentLength: -1}},

		{"header section too large", long, view{Err: "TooLarge", Method: "OPTIONS", URI: "sip:a@example.com", ContentLength: -1}},
		{"Content-Length too large", crlf("OPTIONS sip:b@example.com SIP/2.0\nCall-ID: x\nl: 99999999999\n\n"),
			view{Err: "TooLarge", Method: "OPTIONS", URI: "sip:b@example.com", CallID: "x", ContentLength: -1}},

		{"Call-ID repeated", crlf("OPTIONS sip:b@example.com SIP/2.0\ni: one\nCall-ID: two\nl: 0\n\n"),
			view{Err: "Malformed Call-ID", Method: "OPTIONS", URI: "sip:b@example.com", CallID: "one", Len: whole}},
		{"Expires unreadable", crlf("REGISTER sip:example.com SIP/2.0\nExpires: Thu, 01 Dec 1994 16:00:00 GMT\nl: 0\n\n"),
			view{Err: "Malformed Expires", Method: "REGISTER", URI: "sip:example.com", Len: whole}},
		{"Via port out of range", crlf("OPTIONS sip:b@example.com SIP/2.0\nVia: SIP/2.0/UDP h:65536;branch=z9hG4bK\nl: 0\n\n"),
			view{Err: "Malformed Via", Method: "OPTIONS", URI: "sip:b@example.com", Len: whole}},
		{"Request-URI without host", "OPTIONS sip:alice@ SIP/2.0\r\n\r\n",
			view{Err: "Malformed Request-URI", Method: "OPTIONS", ContentLength: -1, Len: whole}},
		{"first malformed field reported", crlf("OPTIONS sip:b@example.com SIP/2.0\nFrom: <sip:a@example.com\nTo: \"b\nl: 0\n\n"),
			view{Err: "Malformed From", Method: "OPTIONS", URI: "sip:b@example.com", Len: whole}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want.Len == whole {
				tt.want.Len = len(tt.in)
			}
			var m sipparse.Message
			err := sipparse.Parse([]byte(tt.in), &m)
			if got := viewOf(&m, err); got != tt.want {
				t.Errorf("Parse:\n got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestSniff(t *testing.T) {
	tests := []struct {
		in   string
		want error
	}{
		{"INVITE sip:bob@example.com SIP/2.0\r\n", nil},
		{"\r\n\r\nSIP/2.0 200 OK\n", nil},
		{"OPTIONS sip:bob@example.com SIP/2.0  \r\n", nil},
		{"INVITE sip:bob@exam", sipparse.ErrTruncated},
		{"SIP/2.", sipparse.ErrTruncated},
		{"", sipparse.ErrTruncated},
		{"\r\n\r\n", sipparse.ErrKeepAlive},
		{"\x00\x00\x00\x00", sipparse.ErrKeepAlive},
		{"GET / HTTP/1.1\r\n", sipparse.ErrNotSIP},
		{"GET / HTTP/1.1", sipparse.ErrTruncated}, // "GET / SIP/2.0" is a start line
		{`{"jsonrpc":`, sipparse.ErrNotSIP},
		{"SIP/2.0\r\n", sipparse.ErrNotSIP},
		{"INVITE SIP/2.0\r\n", sipparse.ErrNotSIP},
		{"INVITE\tsip:b@example.com SIP/2.0\r\n", sipparse.ErrNotSIP},
		{"\x00INVITE sip:b@example.com SIP/2.0\r\n", sipparse.ErrNotSIP},
		{"INVITE sip:b@example.com SIP/2.0" + strings.Repeat(" ", sipparse.MaxHeaderBytes) + "\r\n", sipparse.ErrTooLarge},
	}
	for _, tt := range tests {
		if err := sipparse.Sniff([]byte(tt.in)); !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
			t.Errorf("Sniff(%.40q) = %v, want %v", tt.in, err, tt.want)
		}
	}
}

// TestStream reads messages one after another from one buffer, as a
// stream reader does. A keep-alive before a message is read with it.
func TestStream(t *testing.T) {
	files := testdata(t, "sipp/*.sip")
	var buf []byte
	for _, name := range []string{"register.sip", "register-auth.sip", "invite-sdp.sip", "bye.sip"} {
		buf = append(buf, files[name]...)
		buf = append(buf, "\r\n\r\n"...)
	}
	var got []string
	var m sipparse.Message
	for len(buf) > 0 {
		err := sipparse.Parse(buf, &m)
		switch {
		case errors.Is(err, sipparse.ErrKeepAlive):
			got = append(got, "keep-alive")
		case err != nil:
			t.Fatalf("after %v: %v", got, err)
		default:
			got = append(got, fmt.Sprintf("%s/%d/%d", m.CSeqMethod, m.CSeq, len(m.Body)))
		}
		buf = buf[m.Len:]
	}
	if g, w := strings.Join(got, " "), "REGISTER/1/0 REGISTER/2/0 INVITE/1/129 BYE/2/0 keep-alive"; g != w {
		t.Errorf("read %s, want %s", g, w)
	}
}

func TestDoubleRequest(t *testing.T) {
	b := testdata(t, "torture/dblreq.dat")["dblreq.dat"]
	var m sipparse.Message
	if err := sipparse.Parse(b, &m); err != nil || string(m.Method) != "REGISTER" {
		t.Fatalf("first: %v, %s", err, m.Method)
	}
	err := sipparse.Parse(b[m.Len:], &m)
	if err != nil || string(m.Method) != "INVITE" || m.ContentLength != 150 || len(m.Body) != 150 {
		t.Fatalf("second: %v, %s, Content-Length %d, body %d bytes", err, m.Method, m.ContentLength, len(m.Body))
	}
}

// TestNonce reads the server's nonce from credentials as sipp and a sipgo
// client sent them (sipp writes cnonce before nonce), and from the
// challenge a sipgo server sends.
func TestNonce(t *testing.T) {
	msgs := sipgoMessages()
	for _, tt := range []struct {
		name  string
		in    []byte
		nonce string
	}{
		{"sipp", testdata(t, "sipp/register-auth.sip")["register-auth.sip"], "5f2a9c1e7b3d4a60"},
		{"sipgo client", testdata(t, "sipgo/register-auth.sip")["register-auth.sip"], "5f2a9c1e7b3d4a60"},
		{"REGISTER with digest", msgs["REGISTER with digest"], "8a1f3c"},
		{"401 with challenge", msgs["401 with challenge"], "8a1f3c"},
	} {
		var m sipparse.Message
		if err := sipparse.Parse(tt.in, &m); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got := m.Auth.Nonce
		if !m.Request {
			got = m.Challenge.Nonce
		}
		if string(got) != tt.nonce {
			t.Errorf("%s: nonce %q, want %q", tt.name, got, tt.nonce)
		}
	}
}

// TestParseSkip checks that ResponseAddrs leaves a response's From, To and
// Contact unread, broken ones included, and reads the rest as Parse does;
// a request is read whole.
func TestParseSkip(t *testing.T) {
	resp := []byte(crlf("SIP/2.0 401 Unauthorized\nVia: SIP/2.0/UDP h;branch=z9hG4bK-1\n" +
		"From: <sip:a@h>;tag=1\nTo: broken<\nContact: <sip:a@h>\nf: <sip:again@h>\nCall-ID: c\n" +
		"CSeq: 1 REGISTER\nWWW-Authenticate: Digest realm=\"r\", nonce=\"n\"\nl: 0\n\n"))
	var all, some sipparse.Message
	if err := sipparse.Parse(resp, &all); !errors.Is(err, sipparse.ErrMalformed) {
		t.Fatalf("Parse: %v, want the broken To", err)
	}
	if err := sipparse.ParseSkip(resp, &some, sipparse.ResponseAddrs); err != nil {
		t.Fatalf("ParseSkip: %v", err)
	}
	if some.From.URI.Raw != nil || some.To.URI.Raw != nil || some.Contact.URI.Raw != nil {
		t.Errorf("skipped fields read: %+v %+v %+v", some.From, some.To, some.Contact)
	}
	all.From, all.To, all.Contact = sipparse.NameAddr{}, sipparse.NameAddr{}, sipparse.NameAddr{}
	if !reflect.DeepEqual(all, some) {
		t.Errorf("ParseSkip read\n%+v\nParse read\n%+v", some, all)
	}

	req := []byte(crlf(register))
	if err := sipparse.Parse(req, &all); err != nil {
		t.Fatal(err)
	}
	if err := sipparse.ParseSkip(req, &some, sipparse.ResponseAddrs); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(all, some) {
		t.Errorf("ParseSkip read the request as\n%+v\nParse as\n%+v", some, all)
	}
	if some.From.URI.Raw == nil {
		t.Error("a request's From was skipped")
	}
}

func TestFieldError(t *testing.T) {
	var m sipparse.Message
	err := sipparse.Parse([]byte("OPTIONS sip:b@example.com SIP/2.0\r\nCSeq: x\r\n\r\n"), &m)
	var fe *sipparse.FieldError
	if !errors.As(err, &fe) || fe.Field() != "CSeq" || !errors.Is(err, sipparse.ErrMalformed) {
		t.Fatalf("got %v, want a *FieldError for CSeq wrapping ErrMalformed", err)
	}
	if got, want := err.Error(), "sipparse: malformed CSeq"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// TestAllocs checks that Parse and Sniff allocate nothing, whatever they
// return, and that a Message on the caller's stack stays there.
func TestAllocs(t *testing.T) {
	inputs := [][]byte{
		[]byte(crlf(register)),
		[]byte("\r\n\r\n"),
		[]byte("GET / HTTP/1.1\r\n\r\n"),
		[]byte("INVITE sip:b@exam"),
		[]byte(crlf("OPTIONS sip:b@example.com SIP/2.0\nl: 99999999999\n\n")),
	}
	for _, files := range []map[string][]byte{testdata(t, "torture/*.dat"), testdata(t, "sipp/*.sip"), sipgoMessages()} {
		for _, b := range files {
			inputs = append(inputs, b)
		}
	}
	for _, b := range inputs {
		parse := func() {
			var m sipparse.Message
			_ = sipparse.Parse(b, &m)
		}
		if n := testing.AllocsPerRun(10, parse); n != 0 {
			t.Errorf("Parse(%.40q) allocates %v times", b, n)
		}
		if n := testing.AllocsPerRun(10, func() { _ = sipparse.Sniff(b) }); n != 0 {
			t.Errorf("Sniff(%.40q) allocates %v times", b, n)
		}
	}
}
