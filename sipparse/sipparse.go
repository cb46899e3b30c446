package sipparse

import (
	"bytes"
	"errors"
)

// Limits on what Parse accepts. They bound the bytes a stream reader must
// buffer for one message before Parse can judge it.
const (
	// MaxHeaderBytes bounds the start line and header fields, blank line
	// included, not counting CRLFs before the start line.
	MaxHeaderBytes = 64 << 10
	// MaxBodyBytes bounds the Content-Length value.
	MaxBodyBytes = 1 << 20
)

// Errors Parse and Sniff return. Test them with errors.Is.
var (
	// ErrKeepAlive reports input made only of CR, LF and NUL bytes: a
	// keep-alive (RFC 5626 sends CRLFCRLF, some devices NULs). Len is
	// len(b); every other field is absent.
	ErrKeepAlive = errors.New("sipparse: keep-alive")
	// ErrNotSIP reports a first line that is neither a SIP/2.0 request
	// line nor a SIP/2.0 status line, or cannot become one. Every field is
	// absent.
	ErrNotSIP = errors.New("sipparse: not a SIP message")
	// ErrTruncated reports input that ends before the blank line after the
	// headers, or before Content-Length bytes of body. On a stream it means
	// more bytes are needed. The fields of the complete header lines are
	// set (the last one may lack a folded continuation); Len is 0 and Body
	// is nil.
	ErrTruncated = errors.New("sipparse: message truncated")
	// ErrTooLarge reports a header section longer than MaxHeaderBytes or a
	// Content-Length above MaxBodyBytes. The fields of the header lines
	// read are set; Len is 0 and Body is nil.
	ErrTooLarge = errors.New("sipparse: message too large")
	// ErrMalformed reports a field Parse reads that breaks RFC 3261
	// syntax. Parse wraps it in a *FieldError naming the first such field.
	// That field is left absent (Auth and Challenge keep Present), or
	// keeps its first value if the header was repeated; every other field,
	// Body and Len are set.
	ErrMalformed = errors.New("sipparse: malformed field")
)

// FieldError names the field that made Parse return ErrMalformed. Parse
// returns shared values, so that an error costs no allocation: compare
// with errors.Is and read Field, never modify one.
type FieldError struct {
	field, msg string
}

// Field returns the name of the field: "Request-URI", "Status-Code" or a
// header name in its canonical long form, such as "Via" or "CSeq".
func (e *FieldError) Field() string { return e.field }

// Error returns "sipparse: malformed " and the field name.
func (e *FieldError) Error() string { return e.msg }

// Unwrap returns ErrMalformed.
func (e *FieldError) Unwrap() error { return ErrMalformed }

func fieldError(name string) *FieldError {
	return &FieldError{field: name, msg: "sipparse: malformed " + name}
}

// Field errors, by code; 0 is none. Parse keeps a code, not a pointer, so
// that the Message it fills does not escape through the error it returns.
const (
	_ = iota
	errRequestURI
	errStatus
	errVia
	errFrom
	errTo
	errContact
	errCallID
	errCSeq
	errContentLength
	errExpires
	errUserAgent
	errServer
	errAuth
	errProxyAuth
	errWWWAuth
	errProxyAuthenticate
)

var fieldErrors = [...]*FieldError{
	errRequestURI:        fieldError("Request-URI"),
	errStatus:            fieldError("Status-Code"),
	errVia:               fieldError("Via"),
	errFrom:              fieldError("From"),
	errTo:                fieldError("To"),
	errContact:           fieldError("Contact"),
	errCallID:            fieldError("Call-ID"),
	errCSeq:              fieldError("CSeq"),
	errContentLength:     fieldError("Content-Length"),
	errExpires:           fieldError("Expires"),
	errUserAgent:         fieldError("User-Agent"),
	errServer:            fieldError("Server"),
	errAuth:              fieldError("Authorization"),
	errProxyAuth:         fieldError("Proxy-Authorization"),
	errWWWAuth:           fieldError("WWW-Authenticate"),
	errProxyAuthenticate: fieldError("Proxy-Authenticate"),
}

// Message is what Parse read from one SIP message. Its byte-slice fields
// alias the input: they are valid while the input is and change with it.
// A nil slice means the field is absent or empty. Folded header values keep
// their line breaks as sent. Escapes (%HH, \") are left as they are.
//
// A Message is a plain value; Parse overwrites all of it. It is not safe
// for concurrent use while Parse fills it.
type Message struct {
	// Request is true for a request and false for a response.
	Request bool
	// Method is the request method, case kept (requests only).
	Method []byte
	// RequestURI is the Request-URI (requests only).
	RequestURI URI
	// Status is the status code, 100 to 699 (responses only).
	Status int
	// Reason is the reason phrase (responses only).
	Reason []byte

	// Via is the top Via: the first value of the first Via header.
	Via Via
	// From is the From header.
	From NameAddr
	// To is the To header.
	To NameAddr
	// Contact is the first value of the first Contact header.
	Contact NameAddr
	// ContactStar is true when that Contact is "*" (remove all bindings).
	ContactStar bool
	// CallID is the Call-ID.
	CallID []byte
	// CSeq is the CSeq sequence number; CSeqMethod is nil when CSeq is
	// absent.
	CSeq uint32
	// CSeqMethod is the CSeq method.
	CSeqMethod []byte
	// UserAgent is the User-Agent header value.
	UserAgent []byte
	// Server is the Server header value (sent in responses).
	Server []byte
	// Auth is read from Authorization or else Proxy-Authorization.
	Auth Auth
	// Challenge is read from WWW-Authenticate or else Proxy-Authenticate,
	// as a server sends them in 401 and 407 responses.
	Challenge Challenge
	// Expires is the Expires header in seconds, at most 1<<31-1; -1 when
	// absent.
	Expires int
	// ContentLength is the Content-Length header; -1 when absent or
	// unreadable. RFC 3261 18.3 requires it on streams: a stream reader
	// must not trust Len when it is -1.
	ContentLength int

	// Body is the message body: ContentLength bytes after the blank line,
	// or all the rest of the input when ContentLength is -1.
	Body []byte
	// Len is how many bytes of the input the message used, from the first
	// byte (CRLFs before the start line included) to the end of Body. It
	// is 0 when the end is not known, that is with ErrNotSIP, ErrTruncated
	// and ErrTooLarge. A stream reader drops b[:Len] and parses the rest.
	Len int
}

// URI is a SIP, SIPS or tel URI, or the scheme of another URI.
type URI struct {
	// Raw is the whole URI as written, without angle brackets.
	Raw []byte
	// Scheme is the scheme, case kept: "sip", "sips", "tel" or another.
	Scheme []byte
	// User is the user part of a sip or sips URI (password excluded),
	// or the number of a tel URI.
	User []byte
	// Host is the host of a sip or sips URI, without the brackets of an
	// IPv6 reference.
	Host []byte
	// Port is the port of a sip or sips URI; 0 when absent.
	Port uint16
}

// NameAddr is a From, To or Contact value.
type NameAddr struct {
	// Display is the display name, without the quotes of a quoted one.
	Display []byte
	// URI is the address. Parameters after the closing ">", or after a
	// URI written without angle brackets, are header parameters, not URI
	// parameters (RFC 3261 20.10).
	URI URI
	// Tag is the tag header parameter.
	Tag []byte
	// Instance is the +sip.instance header parameter of a Contact (RFC
	// 5626), without its quotes: what tells one device from another.
	Instance []byte
}

// Via is one Via value.
type Via struct {
	// Transport is the transport, case kept: "UDP", "TCP", "TLS", "WS"...
	Transport []byte
	// Host is the sent-by host, without the brackets of an IPv6 address.
	Host []byte
	// Port is the sent-by port; 0 when absent.
	Port uint16
	// Branch is the branch parameter.
	Branch []byte
	// Received is the received parameter.
	Received []byte
	// RPort is the rport parameter (RFC 3581): -1 when absent, 0 when
	// present without a value, else its value.
	RPort int
}

// Auth is what Parse read of the credentials a request carried. Parse reads
// the first Authorization header, or if there is none the first
// Proxy-Authorization header.
type Auth struct {
	// Present is true when the request carried either header, even an
	// unreadable one.
	Present bool
	// Proxy is true when the credentials came from Proxy-Authorization.
	Proxy bool
	// Scheme is the auth scheme, case kept, usually "Digest".
	Scheme []byte
	// Username is the Digest username parameter, unquoted, escapes kept.
	Username []byte
	// Realm is the Digest realm parameter, unquoted, escapes kept.
	Realm []byte
	// Nonce is the Digest nonce parameter, unquoted, escapes kept: the
	// server's nonce the credentials answer.
	Nonce []byte
}

// Challenge is what Parse read of the first challenge a response carried.
// Parse reads the first WWW-Authenticate header, or if there is none the
// first Proxy-Authenticate header, and in it the first challenge (RFC 3261
// sends one per header; HTTP may list several in one, the first counts).
type Challenge struct {
	// Present is true when the message carried either header, even an
	// unreadable one.
	Present bool
	// Proxy is true when the challenge came from Proxy-Authenticate.
	Proxy bool
	// Scheme is the auth scheme, case kept, usually "Digest".
	Scheme []byte
	// Realm is the Digest realm parameter, unquoted, escapes kept.
	Realm []byte
	// Nonce is the Digest nonce parameter, unquoted, escapes kept: what the
	// client's credentials must be computed over.
	Nonce []byte
}

// Headers Parse has seen, for those it reads once.
const (
	seenFrom = 1 << iota
	seenTo
	seenCallID
	seenCSeq
	seenContentLength
	seenExpires
	seenUserAgent
	seenServer
	seenVia
	seenContact
	seenAuth
	seenProxyAuth
	seenWWWAuth
	seenProxyAuthenticate
)

// parser is Parse's state; it stays on the stack.
type parser struct {
	m    *Message
	seen uint16
	err  uint8 // the first field error
	big  bool  // Content-Length above MaxBodyBytes
	// noAddrs skips From, To and Contact.
	noAddrs bool
}

func (p *parser) fail(e uint8) {
	if p.err == 0 {
		p.err = e
	}
}

// once reports whether header h is seen for the first time, and records a
// malformed e when it is not.
func (p *parser) once(h uint16, e uint8) bool {
	if p.seen&h != 0 {
		p.fail(e)
		return false
	}
	p.seen |= h
	return true
}

// Parse reads the SIP message at the start of b into *m, overwriting all of
// it. b is one datagram or the head of a stream buffer; Parse never keeps
// it and never reads past it. CRLFs before the start line are skipped
// (RFC 3261 7.5). Header names match case-insensitively and in compact form.
//
// Parse returns nil, ErrKeepAlive, ErrNotSIP, ErrTruncated, ErrTooLarge or a
// *FieldError wrapping ErrMalformed; see each for what it leaves in *m.
// ErrTooLarge comes before ErrTruncated, and both before ErrMalformed.
// Parse reads only the fields of Message: a message that is invalid
// elsewhere, or lacks mandatory headers, parses without error. It does not
// allocate.
func Parse(b []byte, m *Message) error { return ParseSkip(b, m, 0) }

// Skip names fields ParseSkip leaves unread.
type Skip uint8

const (
	// ResponseAddrs is From, To and Contact in a response, which a reader
	// pairing responses by Call-ID, CSeq and Via never looks at.
	ResponseAddrs Skip = 1 << iota
)

// ParseSkip is Parse, but leaves the fields skip names absent and never
// reports them malformed: less work for a reader that needs fewer fields.
func ParseSkip(b []byte, m *Message, skip Skip) error {
	*m = Message{Via: Via{RPort: -1}, Expires: -1, ContentLength: -1}
	start, line, next, err := startLine(b)
	if err != nil {
		if errors.Is(err, ErrKeepAlive) {
			m.Len = len(b)
		}
		return err
	}
	p := parser{m: m}
	p.startLine(b[start:line])
	p.noAddrs = skip&ResponseAddrs != 0 && !m.Request

	limit := start + MaxHeaderBytes
	i := next
	for {
		if i > limit {
			return ErrTooLarge
		}
		if i >= len(b) {
			return p.truncated(len(b) > limit)
		}
		// The blank line ends the headers.
		if b[i] == '\n' {
			i++
			break
		}
		if b[i] == '\r' {
			if i+1 >= len(b) {
				return p.truncated(false)
			}
			if b[i+1] == '\n' {
				i += 2
				break
			}
		}
		lf := bytes.IndexByte(b[i:], '\n')
		if lf < 0 {
			return p.truncated(len(b) > limit)
		}
		end := i + lf
		// Lines that start with white space continue the field.
		for end+1 < len(b) && (b[end+1] == ' ' || b[end+1] == '\t') {
			lf = bytes.IndexByte(b[end+1:], '\n')
			if lf < 0 {
				p.header(b[i:end])
				return p.truncated(len(b) > limit)
			}
			end += 1 + lf
		}
		p.header(b[i:end])
		i = end + 1
	}
	if i > limit {
		return ErrTooLarge
	}
	if p.big {
		return ErrTooLarge
	}
	if n := m.ContentLength; n >= 0 {
		if n > len(b)-i {
			return ErrTruncated
		}
		m.Body = nilIfEmpty(b[i : i+n])
		m.Len = i + n
	} else {
		m.Body = nilIfEmpty(b[i:])
		m.Len = len(b)
	}
	if p.err != 0 {
		return fieldErrors[p.err]
	}
	return nil
}

func (p *parser) truncated(tooLarge bool) error {
	if tooLarge || p.big {
		return ErrTooLarge
	}
	return ErrTruncated
}

// Sniff reports whether b can start a SIP message, reading only its first
// line: nil if it can, ErrKeepAlive, ErrNotSIP, or ErrTruncated when the
// first line is unfinished but could still become a SIP start line (b is
// empty, for one). It is the check Parse makes first, for read filters that
// drop junk before a full parse. It does not allocate.
func Sniff(b []byte) error {
	_, _, _, err := startLine(b)
	return err
}

// startLine finds the start line: b[start:end] without its line break, and
// next, the index after it.
func startLine(b []byte) (start, end, next int, err error) {
	for start < len(b) && (b[start] == '\r' || b[start] == '\n') {
		start++
	}
	if start == len(b) {
		if len(b) == 0 {
			return 0, 0, 0, ErrTruncated
		}
		return 0, 0, 0, ErrKeepAlive
	}
	if b[start] == 0 {
		for _, c := range b[start:] {
			if c != 0 && c != '\r' && c != '\n' {
				return 0, 0, 0, ErrNotSIP
			}
		}
		return 0, 0, 0, ErrKeepAlive
	}
	lf := bytes.IndexByte(b[start:], '\n')
	if lf < 0 {
		if !startPrefix(b[start:]) {
			return 0, 0, 0, ErrNotSIP
		}
		if len(b)-start > MaxHeaderBytes {
			return 0, 0, 0, ErrTooLarge
		}
		return 0, 0, 0, ErrTruncated
	}
	next = start + lf + 1
	if lf > MaxHeaderBytes {
		return 0, 0, 0, ErrTooLarge
	}
	end = start + lf
	// Trailing white space is tolerated (RFC 4475 trws).
	for end > start && (b[end-1] == '\r' || b[end-1] == ' ' || b[end-1] == '\t') {
		end--
	}
	if !isStartLine(b[start:end]) {
		return 0, 0, 0, ErrNotSIP
	}
	return start, end, next, nil
}

const sipVersion = "sip/2.0"

// isStartLine reports whether line is a status line or a request line:
// "SIP/2.0 " first, or a method token, a space and " SIP/2.0" last.
func isStartLine(line []byte) bool {
	if len(line) > len(sipVersion) && line[len(sipVersion)] == ' ' && equalFold(line[:len(sipVersion)], sipVersion) {
		return true
	}
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 || !isToken(line[:sp]) {
		return false
	}
	v := len(line) - len(sipVersion)
	return v > sp+1 && line[v-1] == ' ' && equalFold(line[v:], sipVersion)
}

// startPrefix reports whether an unfinished first line can still become a
// start line.
func startPrefix(line []byte) bool {
	n := min(len(line), len(sipVersion)+1)
	if equalFold(line[:n], (sipVersion + " ")[:n]) {
		return true
	}
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 {
		return isToken(line)
	}
	return sp > 0 && isToken(line[:sp])
}

// startLine reads a line isStartLine accepted.
func (p *parser) startLine(line []byte) {
	m := p.m
	if line[len(sipVersion)] == ' ' && equalFold(line[:len(sipVersion)], sipVersion) {
		rest := line[len(sipVersion)+1:]
		sp := bytes.IndexByte(rest, ' ')
		code := rest
		if sp >= 0 {
			code = rest[:sp]
			m.Reason = nilIfEmpty(trim(rest[sp+1:]))
		}
		if len(code) != 3 || code[0] < '1' || code[0] > '6' || !isDigits(code) {
			p.fail(errStatus)
			return
		}
		m.Status = int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
		return
	}
	m.Request = true
	sp := bytes.IndexByte(line, ' ')
	m.Method = line[:sp]
	uri := line[sp+1 : len(line)-len(sipVersion)-1]
	if !parseURI(uri, &m.RequestURI) {
		m.RequestURI = URI{}
		p.fail(errRequestURI)
	}
}

// header reads one header field, folded lines included, line break excluded.
func (p *parser) header(line []byte) {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return
	}
	name := line[:colon]
	for len(name) > 0 && (name[len(name)-1] == ' ' || name[len(name)-1] == '\t') {
		name = name[:len(name)-1]
	}
	v := line[colon+1:]
	if len(v) > 0 && v[len(v)-1] == '\r' {
		v = v[:len(v)-1]
	}
	m := p.m
	switch len(name) {
	case 1:
		switch name[0] | 0x20 {
		case 'v':
			p.via(v)
		case 'f':
			p.nameAddr(v, seenFrom, &m.From, errFrom)
		case 't':
			p.nameAddr(v, seenTo, &m.To, errTo)
		case 'i':
			p.callID(v)
		case 'm':
			p.contact(v)
		case 'l':
			p.contentLength(v)
		}
	case 2:
		if named(name, "To", "to") {
			p.nameAddr(v, seenTo, &m.To, errTo)
		}
	case 3:
		if named(name, "Via", "via") {
			p.via(v)
		}
	case 4:
		if named(name, "From", "from") {
			p.nameAddr(v, seenFrom, &m.From, errFrom)
		} else if named(name, "CSeq", "cseq") {
			p.cseq(v)
		}
	case 6:
		if named(name, "Server", "server") && p.once(seenServer, errServer) {
			m.Server = nilIfEmpty(trim(v))
		}
	case 7:
		if named(name, "Call-ID", "call-id") {
			p.callID(v)
		} else if named(name, "Contact", "contact") {
			p.contact(v)
		} else if named(name, "Expires", "expires") {
			p.expires(v)
		}
	case 10:
		if named(name, "User-Agent", "user-agent") && p.once(seenUserAgent, errUserAgent) {
			m.UserAgent = nilIfEmpty(trim(v))
		}
	case 13:
		if named(name, "Authorization", "authorization") {
			p.auth(v, false)
		}
	case 14:
		if named(name, "Content-Length", "content-length") {
			p.contentLength(v)
		}
	case 16:
		if named(name, "WWW-Authenticate", "www-authenticate") {
			p.challenge(v, false)
		}
	case 18:
		if named(name, "Proxy-Authenticate", "proxy-authenticate") {
			p.challenge(v, true)
		}
	case 19:
		if named(name, "Proxy-Authorization", "proxy-authorization") {
			p.auth(v, true)
		}
	}
}

// named reports whether a header name is canon, as most senders spell it
// (one comparison), or lower in any other case.
func named(name []byte, canon, lower string) bool {
	return string(name) == canon || equalFold(name, lower)
}

func (p *parser) via(v []byte) {
	if p.seen&seenVia != 0 {
		return
	}
	p.seen |= seenVia
	if !parseVia(v, &p.m.Via) {
		p.m.Via = Via{RPort: -1}
		p.fail(errVia)
	}
}

func (p *parser) nameAddr(v []byte, h uint16, na *NameAddr, e uint8) {
	if p.noAddrs || !p.once(h, e) {
		return
	}
	if !parseNameAddr(v, na, false) {
		*na = NameAddr{}
		p.fail(e)
	}
}

func (p *parser) contact(v []byte) {
	if p.noAddrs || p.seen&seenContact != 0 {
		return
	}
	p.seen |= seenContact
	if t := trim(v); len(t) == 1 && t[0] == '*' {
		p.m.ContactStar = true
		return
	}
	if !parseNameAddr(v, &p.m.Contact, true) {
		p.m.Contact = NameAddr{}
		p.fail(errContact)
	}
}

func (p *parser) callID(v []byte) {
	if !p.once(seenCallID, errCallID) {
		return
	}
	v = trim(v)
	if len(v) == 0 {
		p.fail(errCallID)
		return
	}
	for _, c := range v {
		if c <= ' ' || c == 0x7f {
			p.fail(errCallID)
			return
		}
	}
	p.m.CallID = v
}

func (p *parser) cseq(v []byte) {
	if !p.once(seenCSeq, errCSeq) {
		return
	}
	i := skipWS(v, 0)
	j := i
	var n uint64
	for j < len(v) && isDigit(v[j]) {
		n = n*10 + uint64(v[j]-'0')
		if n > 1<<32-1 {
			p.fail(errCSeq)
			return
		}
		j++
	}
	k := skipWS(v, j)
	if j == i || k == j {
		p.fail(errCSeq)
		return
	}
	e := tokenEnd(v, k)
	if e == k || skipWS(v, e) != len(v) {
		p.fail(errCSeq)
		return
	}
	p.m.CSeq = uint32(n)
	p.m.CSeqMethod = v[k:e]
}

func (p *parser) contentLength(v []byte) {
	if p.seen&seenContentLength != 0 {
		// Two lengths leave the framing unknown.
		p.m.ContentLength = -1
		p.big = false
		p.fail(errContentLength)
		return
	}
	p.seen |= seenContentLength
	n, ok := number(v, MaxBodyBytes+1)
	switch {
	case !ok:
		p.fail(errContentLength)
	case n > MaxBodyBytes:
		p.big = true
	default:
		p.m.ContentLength = n
	}
}

func (p *parser) expires(v []byte) {
	if !p.once(seenExpires, errExpires) {
		return
	}
	n, ok := number(v, 1<<31-1)
	if !ok {
		p.fail(errExpires)
		return
	}
	p.m.Expires = n
}

func (p *parser) auth(v []byte, proxy bool) {
	a := &p.m.Auth
	if proxy {
		if p.seen&(seenAuth|seenProxyAuth) != 0 {
			return
		}
		p.seen |= seenProxyAuth
	} else {
		if p.seen&seenAuth != 0 {
			return
		}
		p.seen |= seenAuth
	}
	*a = Auth{Present: true, Proxy: proxy}
	if !parseAuth(v, a, false) {
		*a = Auth{Present: true, Proxy: proxy}
		if proxy {
			p.fail(errProxyAuth)
		} else {
			p.fail(errAuth)
		}
	}
}

// challenge reads WWW-Authenticate (or Proxy-Authenticate, with proxy) as
// auth reads Authorization: the first header wins, WWW-Authenticate over
// Proxy-Authenticate.
func (p *parser) challenge(v []byte, proxy bool) {
	c := &p.m.Challenge
	if proxy {
		if p.seen&(seenWWWAuth|seenProxyAuthenticate) != 0 {
			return
		}
		p.seen |= seenProxyAuthenticate
	} else {
		if p.seen&seenWWWAuth != 0 {
			return
		}
		p.seen |= seenWWWAuth
	}
	*c = Challenge{Present: true, Proxy: proxy}
	var a Auth
	if !parseAuth(v, &a, true) {
		if proxy {
			p.fail(errProxyAuthenticate)
		} else {
			p.fail(errWWWAuth)
		}
		return
	}
	c.Scheme, c.Realm, c.Nonce = a.Scheme, a.Realm, a.Nonce
}
