package sipparse_test

import (
	"errors"
	"fmt"

	"github.com/sipban/sipban/sipparse"
)

func Example() {
	datagram := []byte("REGISTER sip:pbx.example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-524287-1;rport\r\n" +
		"f: \"100\" <sip:100@pbx.example.com>;tag=3d2a\r\n" +
		"t: <sip:100@pbx.example.com>\r\n" +
		"i: 7f8e9a@198.51.100.7\r\n" +
		"CSeq: 2 REGISTER\r\n" +
		"Authorization: Digest username=\"100\", realm=\"pbx\", nonce=\"5f2a\", uri=\"sip:pbx.example.com\", response=\"d41d8cd98f00b204e9800998ecf8427e\"\r\n" +
		"User-Agent: friendly-scanner\r\n" +
		"l: 0\r\n\r\n")

	var m sipparse.Message
	err := sipparse.Parse(datagram, &m)
	if err != nil && !errors.Is(err, sipparse.ErrMalformed) {
		fmt.Println("drop:", err)
		return
	}
	fmt.Printf("%s %s from %s:%d\n", m.Method, m.RequestURI.Host, m.Via.Host, m.Via.Port)
	fmt.Printf("account %s, credentials for %s, agent %q\n", m.To.URI.User, m.Auth.Username, m.UserAgent)
	// Output:
	// REGISTER pbx.example.com from 198.51.100.7:5060
	// account 100, credentials for 100, agent "friendly-scanner"
}

// A stream reader parses from the head of its buffer and drops what each
// message used.
func Example_stream() {
	buf := []byte("OPTIONS sip:a@example.com SIP/2.0\r\nContent-Length: 0\r\n\r\n" +
		"\r\n\r\n" + // a keep-alive
		"MESSAGE sip:a@example.com SIP/2.0\r\nContent-Length: 5\r\n\r\nhello" +
		"BYE sip:a@exam") // the next message, still arriving
	var m sipparse.Message
	for {
		switch err := sipparse.Parse(buf, &m); {
		case errors.Is(err, sipparse.ErrTruncated):
			fmt.Printf("wait for more after %q\n", buf)
			return
		case errors.Is(err, sipparse.ErrKeepAlive):
		case err != nil && !errors.Is(err, sipparse.ErrMalformed), m.ContentLength < 0:
			fmt.Println("close the connection:", err)
			return
		default:
			fmt.Printf("%s with %q\n", m.Method, m.Body)
		}
		buf = buf[m.Len:]
	}
	// Output:
	// OPTIONS with ""
	// MESSAGE with "hello"
	// wait for more after "BYE sip:a@exam"
}

// A read filter drops datagrams that cannot be SIP before anything else
// reads them.
func ExampleSniff() {
	for _, datagram := range []string{
		"INVITE sip:bob@example.com SIP/2.0\r\n...",
		"\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
	} {
		fmt.Println(sipparse.Sniff([]byte(datagram)))
	}
	// Output:
	// <nil>
	// sipparse: keep-alive
	// sipparse: not a SIP message
}
