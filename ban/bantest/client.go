package bantest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/icholy/digest"
)

// ErrNoAnswer is wrapped by the error of a request that got no final
// response within the client's timeout: what a banned source sees.
var ErrNoAnswer = errors.New("bantest: no answer")

// DefaultTimeout is how long a Client waits for a final response when
// Dialer.Timeout is zero.
const DefaultTimeout = time.Second

// DefaultUserAgent is the User-Agent a Client sends when Dialer.UserAgent is empty.
const DefaultUserAgent = "sipban-bantest"

// Dialer holds the options of the clients it dials. The zero Dialer uses
// the defaults. A Dialer may dial from several goroutines at once.
type Dialer struct {
	// Timeout is how long to wait for each final response; zero means
	// DefaultTimeout. Requests are sent once and never retransmitted, so on a
	// lossy path it must cover the round trip with a margin.
	Timeout time.Duration
	// UserAgent is the User-Agent header; empty means DefaultUserAgent.
	UserAgent string
	// Domain is the host part of the URIs sent ("sip:alice@Domain"); empty
	// means the target's address.
	Domain string
	// Transport is "udp", "tcp" or "tls"; empty means "udp". Over TCP and
	// TLS a Client speaks on one connection, framed by Content-Length, and
	// takes the server closing it for silence: the request, and every one
	// after it, goes unanswered (ErrNoAnswer), as for a banned source.
	Transport string
	// TLSConfig configures the TLS client; nil means one that skips
	// verifying the server's certificate, for test servers whose
	// certificate is self-signed (SelfSigned).
	TLSConfig *tls.Config
}

// Dial returns a Client sending from local to target with the zero Dialer.
func Dial(ctx context.Context, local, target string) (*Client, error) {
	var d Dialer
	return d.Dial(ctx, local, target)
}

// Dial binds a socket to local ("127.0.0.2:0" picks a free port on
// 127.0.0.2) and returns a Client that sends to target ("host:port") over
// d.Transport. Over TLS the handshake comes with the first request, so
// that a server refusing the connection is silence to that request.
func (d *Dialer) Dial(ctx context.Context, local, target string) (*Client, error) {
	c := &Client{
		timeout: d.Timeout,
		ua:      d.UserAgent,
		domain:  d.Domain,
		callIDs: make(map[string]string),
		buf:     make([]byte, maxMessage),
	}
	switch strings.ToLower(d.Transport) {
	case "", "udp":
		c.via = "UDP"
	case "tcp":
		c.via = "TCP"
	case "tls":
		c.via = "TLS"
	default:
		return nil, fmt.Errorf("bantest: unknown transport %q", d.Transport)
	}
	network := "tcp"
	if c.via == "UDP" {
		network = "udp"
	}
	// A connected UDP socket hears only the target, and reports an ICMP
	// "port unreachable" as an error rather than as silence.
	laddr, err := net.ResolveTCPAddr("tcp", local) // its IP and port, whichever the network
	if err != nil {
		return nil, fmt.Errorf("bantest: local address: %w", err)
	}
	nd := net.Dialer{LocalAddr: laddr}
	if network == "udp" {
		nd.LocalAddr = &net.UDPAddr{IP: laddr.IP, Port: laddr.Port, Zone: laddr.Zone}
	}
	conn, err := nd.DialContext(ctx, network, target)
	if err != nil {
		return nil, fmt.Errorf("bantest: %w", err)
	}
	ap, err := netip.ParseAddrPort(conn.LocalAddr().String())
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("bantest: local address: %w", err)
	}
	c.local = unmap(ap)
	if c.domain == "" {
		c.domain = conn.RemoteAddr().String()
	}
	if c.via == "TLS" {
		conf := d.TLSConfig
		if conf == nil {
			conf = &tls.Config{InsecureSkipVerify: true}
		}
		conn = tls.Client(conn, conf)
	}
	c.conn = conn
	if c.via != "UDP" {
		c.rd = bufio.NewReaderSize(conn, maxMessage)
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.ua == "" {
		c.ua = DefaultUserAgent
	}
	return c, nil
}

// maxMessage bounds the size of a message a Client reads.
const maxMessage = 65535

// Client sends hand-built SIP requests over UDP, TCP or TLS from one local
// address and port, and reads the answers. It does what a phone does and no more:
// answer a digest challenge once, acknowledge final responses to INVITE,
// hang up a call that was answered. Requests are sent once and never
// retransmitted.
//
// A Client is safe for concurrent use; it sends one request at a time.
type Client struct {
	conn    net.Conn
	rd      *bufio.Reader // over a stream; nil over UDP
	via     string        // the transport as Via names it
	local   netip.AddrPort
	timeout time.Duration
	ua      string
	domain  string

	mu      sync.Mutex
	cseq    uint32
	callIDs map[string]string // REGISTER Call-ID per account, as a phone keeps one
	buf     []byte
	cut     error // why the server closed the stream; nil while it is open
}

// LocalAddr returns the address and port the Client sends from.
func (c *Client) LocalAddr() netip.AddrPort { return c.local }

// Close releases the socket or connection.
func (c *Client) Close() error { return c.conn.Close() }

// Register registers account once and returns the final status. When
// challenged (401 or 407) it answers once with password; an empty password
// leaves the challenge unanswered and returns its status, as a scanner does.
func (c *Client) Register(ctx context.Context, account, password string) (int, error) {
	return c.register(ctx, account, password, c.ua)
}

func (c *Client) register(ctx context.Context, account, password, ua string) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	callID, ok := c.callIDs[account]
	if !ok {
		callID = token()
		if len(c.callIDs) < 1024 {
			c.callIDs[account] = callID
		}
	}
	m := &message{
		method: "REGISTER", uri: "sip:" + c.domain, from: account, to: account,
		callID: callID, fromTag: token(), ua: ua, contact: account, expires: "3600",
	}
	res, err := c.do(ctx, m)
	if err != nil || !challenged(res.status) || password == "" {
		return res.status, err
	}
	if err := c.authorize(m, res, account, password); err != nil {
		return res.status, err
	}
	res, err = c.do(ctx, m)
	return res.status, err
}

// Invite calls target as account and returns the final status. When
// challenged it answers once with password (an empty password leaves the
// challenge unanswered). It acknowledges every final response; a call that
// is answered (2xx) is hung up at once with BYE.
func (c *Client) Invite(ctx context.Context, account, password, target string) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := &message{
		method: "INVITE", uri: "sip:" + target + "@" + c.domain, from: account, to: target,
		callID: token(), fromTag: token(), ua: c.ua, contact: account,
	}
	res, err := c.do(ctx, m)
	if err != nil {
		return 0, err
	}
	if err := c.ack(m, res); err != nil {
		return res.status, err
	}
	if challenged(res.status) && password != "" {
		if err := c.authorize(m, res, account, password); err != nil {
			return res.status, err
		}
		if res, err = c.do(ctx, m); err != nil {
			return 0, err
		}
		if err := c.ack(m, res); err != nil {
			return res.status, err
		}
	}
	if res.status >= 200 && res.status < 300 {
		c.hangUp(ctx, m, res)
	}
	return res.status, nil
}

// Options sends OPTIONS to user (empty: the domain itself) and returns the
// final status.
func (c *Client) Options(ctx context.Context, user string) (int, error) {
	return c.options(ctx, user, c.ua)
}

func (c *Client) options(ctx context.Context, user, ua string) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	uri, to := "sip:"+c.domain, ""
	if user != "" {
		uri, to = "sip:"+user+"@"+c.domain, user
	}
	m := &message{method: "OPTIONS", uri: uri, from: "bantest", to: to, callID: token(), fromTag: token(), ua: ua}
	res, err := c.do(ctx, m)
	return res.status, err
}

// authorize adds credentials answering the challenge in res to m, for the
// next request of the same dialog.
func (c *Client) authorize(m *message, res *response, user, password string) error {
	name, reply := "WWW-Authenticate", "Authorization"
	if res.status == 407 {
		name, reply = "Proxy-Authenticate", "Proxy-Authorization"
	}
	v := res.header(name)
	chal, err := digest.ParseChallenge(v)
	if err != nil {
		return fmt.Errorf("bantest: %d without a readable %s: %w", res.status, name, err)
	}
	if !digest.CanDigest(chal) {
		return fmt.Errorf("bantest: unsupported challenge %q", v)
	}
	cred, err := digest.Digest(chal, digest.Options{Method: m.method, URI: m.uri, Username: user, Password: password, Count: 1})
	if err != nil {
		return fmt.Errorf("bantest: %w", err)
	}
	m.authName, m.auth = reply, cred.String()
	return nil
}

// ack acknowledges a final non-2xx response to the INVITE m, in the same
// transaction (RFC 3261 17.1.1.3).
func (c *Client) ack(m *message, res *response) error {
	if res.status < 300 {
		return nil
	}
	a := *m
	a.method, a.toTag, a.auth, a.authName = "ACK", res.toTag, "", ""
	return c.send(&a)
}

// hangUp acknowledges a 2xx to the INVITE m and ends the call with BYE. The
// BYE's answer is awaited but not reported: the call attempt is over.
func (c *Client) hangUp(ctx context.Context, m *message, res *response) {
	a := *m
	a.method, a.toTag, a.auth, a.authName = "ACK", res.toTag, "", ""
	a.branch = ""
	if u := res.contactURI(); u != "" {
		a.uri = u
	}
	if c.send(&a) != nil {
		return
	}
	b := a
	b.method, b.branch = "BYE", ""
	_, _ = c.do(ctx, &b)
}

// do sends m as a new transaction and waits for its final response. m's
// CSeq and branch are set afresh.
func (c *Client) do(ctx context.Context, m *message) (*response, error) {
	c.cseq++
	m.cseq, m.branch = c.cseq, ""
	if err := c.send(m); err != nil {
		return &response{}, err
	}
	deadline := time.Now().Add(c.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := c.conn.SetReadDeadline(deadline); err != nil {
		return &response{}, fmt.Errorf("bantest: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { c.conn.SetReadDeadline(time.Now()) })
	defer stop()
	for {
		data, err := c.read()
		if err != nil {
			if ctx.Err() != nil {
				return &response{}, ctx.Err()
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return &response{}, fmt.Errorf("%w to %s %s within %v", ErrNoAnswer, m.method, m.uri, c.timeout)
			}
			if c.rd != nil {
				return &response{}, c.closed(m, err)
			}
			return &response{}, fmt.Errorf("bantest: %s %s: %w", m.method, m.uri, err)
		}
		res, ok := parseResponse(data)
		if !ok || res.callID != m.callID || res.cseq != m.cseq || res.method != m.method || res.status < 200 {
			continue // provisional, or a stray from an earlier transaction
		}
		return res, nil
	}
}

func (c *Client) send(m *message) error {
	if m.branch == "" {
		m.branch = "z9hG4bK" + token()
	}
	if c.cut != nil {
		return c.closed(m, c.cut)
	}
	if _, err := c.conn.Write(m.bytes(c.via, c.local, c.domain)); err != nil {
		if c.rd != nil {
			return c.closed(m, err)
		}
		return fmt.Errorf("bantest: send %s: %w", m.method, err)
	}
	return nil
}

// closed notes that the server closed the stream, with err, and returns the
// silence m meets.
func (c *Client) closed(m *message, err error) error {
	if c.cut == nil {
		c.cut = err
	}
	return fmt.Errorf("%w to %s %s: connection closed: %v", ErrNoAnswer, m.method, m.uri, c.cut)
}

// read returns the next message: a datagram, or over a stream one framed by
// its Content-Length.
func (c *Client) read() ([]byte, error) {
	if c.rd == nil {
		n, err := c.conn.Read(c.buf)
		return c.buf[:n], err
	}
	msg, length := c.buf[:0], 0
	for {
		line, err := c.rd.ReadSlice('\n')
		if err != nil {
			return nil, err
		}
		if len(msg) == 0 && len(bytes.TrimSpace(line)) == 0 {
			continue // a keep-alive between messages
		}
		if len(msg)+len(line) > maxMessage {
			return nil, fmt.Errorf("bantest: message longer than %d bytes", maxMessage)
		}
		msg = append(msg, line...)
		if len(bytes.TrimSpace(line)) == 0 {
			break
		}
		name, v, _ := strings.Cut(string(line), ":")
		if name = strings.ToLower(strings.TrimSpace(name)); name == "content-length" || name == "l" {
			length, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	if length < 0 || len(msg)+length > maxMessage {
		return nil, fmt.Errorf("bantest: message longer than %d bytes", maxMessage)
	}
	body := msg[len(msg) : len(msg)+length]
	if _, err := io.ReadFull(c.rd, body); err != nil {
		return nil, err
	}
	return msg[:len(msg)+length], nil
}

func challenged(status int) bool { return status == 401 || status == 407 }

// token returns a random identifier for tags, branches and Call-IDs.
func token() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// message is a request to build.
type message struct {
	method, uri     string
	from, to, toTag string // user parts, To tag
	callID, fromTag string
	branch          string
	cseq            uint32
	ua              string
	contact         string // user part of Contact; empty: none
	expires         string // empty: none
	authName, auth  string // Authorization or Proxy-Authorization, and its value
}

// bytes writes m as sent from local over transport, as Via names it.
func (m *message) bytes(transport string, local netip.AddrPort, domain string) []byte {
	var b bytes.Buffer
	host := local.String()
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", m.method, m.uri)
	fmt.Fprintf(&b, "Via: SIP/2.0/%s %s;branch=%s;rport\r\n", transport, host, m.branch)
	b.WriteString("Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "From: <sip:%s@%s>;tag=%s\r\n", m.from, domain, m.fromTag)
	if m.to == "" {
		fmt.Fprintf(&b, "To: <sip:%s>", domain)
	} else {
		fmt.Fprintf(&b, "To: <sip:%s@%s>", m.to, domain)
	}
	if m.toTag != "" {
		fmt.Fprintf(&b, ";tag=%s", m.toTag)
	}
	b.WriteString("\r\n")
	fmt.Fprintf(&b, "Call-ID: %s\r\n", m.callID)
	fmt.Fprintf(&b, "CSeq: %d %s\r\n", m.cseq, m.method)
	if m.contact != "" && m.method != "ACK" && m.method != "BYE" {
		if transport == "UDP" {
			fmt.Fprintf(&b, "Contact: <sip:%s@%s>\r\n", m.contact, host)
		} else {
			fmt.Fprintf(&b, "Contact: <sip:%s@%s;transport=%s>\r\n", m.contact, host, strings.ToLower(transport))
		}
	}
	if m.expires != "" {
		fmt.Fprintf(&b, "Expires: %s\r\n", m.expires)
	}
	if m.auth != "" {
		fmt.Fprintf(&b, "%s: %s\r\n", m.authName, m.auth)
	}
	fmt.Fprintf(&b, "User-Agent: %s\r\n", m.ua)
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.Bytes()
}

// response is what a Client reads of a response.
type response struct {
	status  int
	callID  string
	cseq    uint32
	method  string
	toTag   string
	headers []string // "name: value" lines, names as sent
}

// compact maps RFC 3261 compact header names to full ones.
var compact = map[string]string{"i": "call-id", "t": "to", "m": "contact", "f": "from", "v": "via", "l": "content-length"}

// parseResponse reads the fields a Client needs; ok is false for anything
// that is not a SIP response.
func parseResponse(data []byte) (*response, bool) {
	head, _, _ := bytes.Cut(data, []byte("\r\n\r\n"))
	lines := strings.Split(string(head), "\r\n")
	f := strings.Fields(lines[0])
	if len(f) < 2 || f[0] != "SIP/2.0" {
		return nil, false
	}
	st, err := strconv.Atoi(f[1])
	if err != nil || st < 100 || st > 699 {
		return nil, false
	}
	r := &response{status: st, headers: lines[1:]}
	for _, l := range lines[1:] {
		name, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		name, v = strings.ToLower(strings.TrimSpace(name)), strings.TrimSpace(v)
		if full, ok := compact[name]; ok {
			name = full
		}
		switch name {
		case "call-id":
			r.callID = v
		case "cseq":
			num, method, _ := strings.Cut(v, " ")
			n, _ := strconv.ParseUint(num, 10, 32)
			r.cseq, r.method = uint32(n), strings.TrimSpace(method)
		case "to":
			r.toTag = param(v, "tag")
		}
	}
	return r, r.callID != ""
}

// header returns the value of the first header called name.
func (r *response) header(name string) string {
	for _, l := range r.headers {
		n, v, ok := strings.Cut(l, ":")
		if ok && strings.EqualFold(strings.TrimSpace(n), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// contactURI returns the URI of the first Contact, or "".
func (r *response) contactURI() string {
	v := r.header("Contact")
	if v == "" {
		v = r.header("m")
	}
	if i := strings.IndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 0 {
			return v[i+1 : i+j]
		}
	}
	return ""
}

// param returns a header parameter's value (";tag=abc"), or "".
func param(v, name string) string {
	// Parameters of the header follow the closing '>' of a name-addr.
	if i := strings.LastIndexByte(v, '>'); i >= 0 {
		v = v[i+1:]
	}
	for _, p := range strings.Split(v, ";")[1:] {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, name) {
			return val
		}
	}
	return ""
}

func unmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
