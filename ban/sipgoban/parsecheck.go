package sipgoban

import (
	"bytes"
	"sync"
	"unicode/utf8"
)

// This file decides, without allocating, whether sipgo v1.7.2's parser
// refuses a datagram, as its UDP transport calls it: sip.Parser.ParseSIP
// with the defaults of sip.NewParser (no stream, 65535 bytes at most). It
// follows sipgo's code rule for rule, not RFC 3261: where sipgo is lax (a
// bad Via port, unknown headers) it passes, where it is strict (CR LF line
// ends, no CRLF before the start line) it refuses. Only these headers are
// parsed, and so only these can make a message fail: Via, From, To,
// Contact, Call-ID, CSeq, Content-Length, Content-Type, Max-Forwards,
// Route, Record-Route, Refer-To, Referred-By (and their compact forms).
// Update it with sipgo; TestSipgoAgrees and FuzzReadFilter compare it with
// sip.ParseMessage.

// Why sipgo refuses a message. Constants, so that refusing costs nothing.
const (
	whyTooLarge    = "larger than 65535 bytes"
	whyLineEnd     = "line not ended by CRLF"
	whyNoBlankLine = "no blank line after the headers"
	whyLeadingCRLF = "CRLF before the start line"
	whyStartLine   = "not a SIP start line"
	whyRequestURI  = "bad Request-URI"
	whyStatus      = "bad status code"
	whyHeaderLine  = "header line without a colon"
	whyBodyShort   = "body shorter than Content-Length"
)

// sipgo's limits: sip.ParseMaxMessageLength and the CSeq maximum.
const (
	maxMessage = 65535
	maxCSeq    = 1<<31 - 1
)

// header kinds sipgo parses; 0 is any other header, kept unparsed.
const (
	hOther = iota
	hVia
	hFrom
	hTo
	hContact
	hCallID
	hCSeq
	hContentLength
	hContentType
	hMaxForwards
	hRoute
	hRecordRoute
	hReferTo
	hReferredBy
)

var whyHeader = [...]string{
	hVia:           "bad Via",
	hFrom:          "bad From",
	hTo:            "bad To",
	hContact:       "bad Contact",
	hCallID:        "bad Call-ID",
	hCSeq:          "bad CSeq",
	hContentLength: "bad Content-Length",
	hContentType:   "bad Content-Type",
	hMaxForwards:   "bad Max-Forwards",
	hRoute:         "bad Route",
	hRecordRoute:   "bad Record-Route",
	hReferTo:       "bad Refer-To",
	hReferredBy:    "bad Referred-By",
}

// folds holds buffers for folded header lines, which sipgo joins before
// parsing; they are rare, so the pool is touched only for them.
var folds = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// refusal says why sipgo's UDP transport would fail to parse b, or "" if it
// parses it or takes it for a keep-alive.
func refusal(b []byte) string {
	// parseAndHandle: up to 4 bytes of CR and LF are a keep-alive.
	if len(b) <= 4 && len(bytes.Trim(b, "\r\n")) == 0 {
		return ""
	}
	if len(b) > maxMessage {
		return whyTooLarge
	}
	line, n, why := nextLine(b)
	if why != "" {
		return why
	}
	if len(line) == 0 {
		// Datagrams get no RFC 3261 7.5 skipping: the start line is empty.
		return whyLeadingCRLF
	}
	if why := startLine(line); why != "" {
		return why
	}
	total := n
	contentLength := -1
	for {
		rest := b[total:]
		if len(rest) == 0 {
			return whyNoBlankLine
		}
		line, n, why := nextLine(rest)
		if why != "" {
			return why
		}
		if len(line) == 0 {
			total += n
			break
		}
		if n < len(rest) && isFold(rest[n]) {
			n, why = folded(rest, line, n, &contentLength)
		} else {
			why = header(line, &contentLength)
		}
		if why != "" {
			return why
		}
		total += n
	}
	// Parser.Parse: without Content-Length a datagram's body is the rest.
	size := len(b) - total
	if contentLength >= 0 {
		size = contentLength
	}
	switch {
	case size == 0:
		return ""
	case size > maxMessage-total:
		return whyTooLarge
	case size > len(b)-total:
		return whyBodyShort
	}
	return ""
}

// nextLine is sipgo's: a line ends at the first CR, which LF must follow.
// A bare LF is part of the line.
func nextLine(b []byte) (line []byte, n int, why string) {
	i := bytes.IndexByte(b, '\r')
	if i < 0 || i+1 >= len(b) || b[i+1] != '\n' {
		return nil, 0, whyLineEnd
	}
	return b[:i], i + 2, ""
}

func isFold(c byte) bool { return c == ' ' || c == '\t' }

func trimFold(b []byte) []byte { return bytes.TrimRight(b, " \t") }

// folded joins a header line and its continuations as foldHeaderLine
// does, into a pooled buffer, and parses the result. It returns the bytes
// used from rest.
func folded(rest, line []byte, first int, contentLength *int) (int, string) {
	total := first
	for total < len(rest) && isFold(rest[total]) {
		_, k, why := nextLine(rest[total:])
		if why != "" {
			return 0, why
		}
		total += k
	}
	p := folds.Get().(*[]byte)
	buf := append((*p)[:0], trimFold(line)...)
	for off := first; off < total; {
		cont, k, _ := nextLine(rest[off:])
		buf = append(buf, ' ')
		buf = append(buf, trimFold(bytes.TrimLeft(cont, " \t"))...)
		off += k
	}
	why := header(buf, contentLength)
	*p = buf[:0]
	folds.Put(p)
	return total, why
}

// startLine is parseLine: two spaces split three parts; a request ends in a
// part starting "sip" or "SIP" without spaces, a response starts with one.
func startLine(line []byte) string {
	i := bytes.IndexByte(line, ' ')
	if i < 0 {
		return whyStartLine
	}
	p0, rest := line[:i], line[i+1:]
	i = bytes.IndexByte(rest, ' ')
	if i < 0 {
		return whyStartLine
	}
	p1, p2 := rest[:i], rest[i+1:]
	switch {
	case len(p2) >= 3 && bytes.IndexByte(p2, ' ') < 0 && isSIP(p2[:3]):
		if ok, wildcard := uri(p1); !ok || wildcard {
			return whyRequestURI
		}
	case len(p0) >= 3 && isSIP(p0[:3]):
		if _, ok := uintMax(p1, 1<<16-1); !ok {
			return whyStatus
		}
	default:
		return whyStartLine
	}
	return ""
}

// isSIP is sip.UriIsSIP: two spellings only.
func isSIP(b []byte) bool { return string(b) == "sip" || string(b) == "SIP" }

// header is HeadersParser.ParseHeader: it parses a known header's value,
// and the values after each comma for those that take lists. It records
// the Content-Length value in *contentLength.
func header(line []byte, contentLength *int) string {
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		return whyHeaderLine
	}
	kind := headerKind(bytes.TrimSpace(line[:colon]))
	if kind == hOther {
		return ""
	}
	text := bytes.TrimSpace(line[colon+1:])
	for {
		ok, comma := value(kind, text, contentLength)
		if !ok {
			return whyHeader[kind]
		}
		if comma < 0 {
			return ""
		}
		text = text[comma+1:]
	}
}

// headerKind finds a header name in sipgo's default parser map, ignoring
// ASCII case as headerToLower does.
func headerKind(name []byte) int {
	if len(name) == 1 {
		switch name[0] | 0x20 {
		case 'v':
			return hVia
		case 'f':
			return hFrom
		case 't':
			return hTo
		case 'm':
			return hContact
		case 'i':
			return hCallID
		case 'l':
			return hContentLength
		case 'c':
			return hContentType
		}
		return hOther
	}
	if len(name) >= len(headerNames) {
		return hOther
	}
	for _, h := range headerNames[len(name)] {
		if asciiFold(name, h.name) {
			return h.kind
		}
	}
	return hOther
}

type named struct {
	name string
	kind int
}

// headerNames holds the long names, by length.
var headerNames = func() (t [15][]named) {
	for _, h := range []named{
		{"via", hVia}, {"from", hFrom}, {"to", hTo}, {"contact", hContact},
		{"call-id", hCallID}, {"cseq", hCSeq}, {"content-length", hContentLength},
		{"content-type", hContentType}, {"max-forwards", hMaxForwards},
		{"route", hRoute}, {"record-route", hRecordRoute}, {"refer-to", hReferTo},
		{"referred-by", hReferredBy},
	} {
		t[len(h.name)] = append(t[len(h.name)], h)
	}
	return t
}()

// asciiFold reports whether b and s are equal once their A-Z are lowered.
func asciiFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i, c := range b {
		if lower(c) != lower(s[i]) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// value runs the parser of kind on one value. comma is where a list goes
// on (the index of its comma), or -1.
func value(kind int, text []byte, contentLength *int) (ok bool, comma int) {
	switch kind {
	case hVia:
		return via(text)
	case hFrom, hTo, hReferredBy:
		ok, wildcard := address(text)
		return ok && !wildcard, -1
	case hContact:
		return contact(text)
	case hRoute, hRecordRoute, hReferTo:
		return route(text)
	case hCallID, hContentType:
		return len(text) > 0, -1
	case hCSeq:
		return cseq(text), -1
	case hMaxForwards:
		_, ok := uintMax(text, 1<<32-1)
		return ok, -1
	case hContentLength:
		n, ok := uintMax(text, 1<<32-1)
		if ok {
			*contentLength = int(n)
		}
		return ok, -1
	}
	return true, -1
}

// uintMax is strconv.ParseUint in base 10, bounded by max.
func uintMax(b []byte, max uint64) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > (max-uint64(c-'0'))/10 {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// atoiOK reports whether strconv.Atoi accepts b: a sign, digits, and an
// int64.
func atoiOK(b []byte) bool {
	max := uint64(1<<63 - 1)
	if len(b) > 0 && (b[0] == '+' || b[0] == '-') {
		if b[0] == '-' {
			max++
		}
		b = b[1:]
	}
	_, ok := uintMax(b, max)
	return ok
}

// cseq is parseCSeqHeader: a number up to 2^31-1, one SP or HT, and at
// least one more byte.
func cseq(text []byte) bool {
	i := bytes.IndexAny(text, " \t")
	if i < 1 || len(text)-i < 2 {
		return false
	}
	_, ok := uintMax(text[:i], maxCSeq)
	return ok
}

// uri is ParseUri: it fails only on an empty or short URI, a scheme with
// other than letters or no colon, an IPv6 reference without "]" in its
// first 42 bytes, and a port strconv.Atoi refuses. wildcard reports "*" or
// a host "*".
func uri(s []byte) (ok, wildcard bool) {
	if len(s) < 3 {
		return string(s) == "*", string(s) == "*"
	}
	for i, c := range s {
		if c == ':' {
			if !asciiFold(s[:i], "sip") && !asciiFold(s[:i], "sips") {
				return true, false // Other schemes are kept raw.
			}
			return sipURI(bytes.TrimPrefix(s[i+1:], []byte("//")))
		}
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false, false
		}
	}
	return false, false
}

func sipURI(s []byte) (ok, wildcard bool) {
	// uriStateUser: the user part ends at "@", unless "[" comes first.
	for i, c := range s {
		if c == '[' {
			s = s[i:]
			break
		}
		if c == '@' {
			s = s[i+1:]
			break
		}
	}
	// uriStateHost.
	for i, c := range s {
		switch c {
		case '[':
			return ipv6URI(s[i:]), false
		case ':':
			return port(s[i+1:]), false
		case ';', '?':
			return true, false // Parameters and headers never fail.
		}
	}
	return true, string(s) == "*"
}

func ipv6URI(s []byte) bool {
	i := bytes.IndexByte(s[:min(len(s), 42)], ']')
	if i <= 0 {
		return false
	}
	if i+1 < len(s) && s[i+1] == ':' {
		return port(s[i+2:])
	}
	return true
}

// port is uriStatePort: the port runs to ";" or "?".
func port(s []byte) bool {
	if i := bytes.IndexAny(s, ";?"); i >= 0 {
		s = s[:i]
	}
	return atoiOK(s)
}

// address is ParseAddressValue (RFC 3261 20.10 as sipgo reads it).
func address(s []byte) (ok, wildcard bool) {
	if len(s) == 0 {
		return false, false
	}
	for i, c := range s {
		switch c {
		case '"':
			return quotedAddress(s[i+1:])
		case '<':
			return bracketAddress(s[i+1:])
		case ';':
			return plainAddress(s)
		}
	}
	return plainAddress(s)
}

// quotedAddress follows a quoted display name. Byte by byte is rune by
// rune here: every byte it tests is ASCII, which UTF-8 never hides.
func quotedAddress(s []byte) (ok, wildcard bool) {
	escaped := false
	for i, c := range s {
		switch {
		case c == '\\':
			escaped = !escaped
		case escaped:
			if c == '\n' || c == '\r' {
				return false, false
			}
			escaped = false
		case c == '"':
			rest := s[i+1:]
			for j, c := range rest {
				switch c {
				case '<':
					return bracketAddress(rest[j+1:])
				case ';':
					return plainAddress(rest[j+1:])
				}
			}
			return false, false
		}
	}
	return false, false
}

func bracketAddress(s []byte) (ok, wildcard bool) {
	i := bytes.IndexByte(s, '>')
	if i < 0 {
		return false, false
	}
	return uri(s[:i])
}

func plainAddress(s []byte) (ok, wildcard bool) {
	if len(s) == 0 {
		return false, false
	}
	if i := bytes.IndexByte(s, ';'); i >= 0 {
		s = s[:i]
	}
	return uri(s)
}

// contact is parseContactHeader: the value ends at the first comma outside
// quotes and brackets.
func contact(text []byte) (ok bool, comma int) {
	inQuotes, inBrackets := false, false
	end, comma := len(text), -1
scan:
	for i, c := range text {
		switch {
		case c == '<' && !inQuotes:
			inBrackets = true
		case c == '>' && !inQuotes:
			inBrackets = false
		case c == '"':
			inQuotes = !inQuotes
		case c == ',' && !inQuotes && !inBrackets:
			end, comma = i, i
			break scan
		}
	}
	if ok, _ := address(text[:end]); !ok {
		return false, -1
	}
	return true, comma
}

// route is parseRouteAddress. It parses the value only when a comma or the
// value's last rune falls outside quotes and brackets; the last rune is
// tested by its byte index, so a final multi-byte rune never triggers it.
func route(text []byte) (ok bool, comma int) {
	inQuotes, inBrackets := false, false
	last := len(text) - 1
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRune(text[i:])
		idx := i
		i += size
		if r == '<' && !inQuotes {
			inBrackets = true
			continue
		}
		if r == '>' && !inQuotes {
			inBrackets = false
		} else if r == '"' {
			inQuotes = !inQuotes
		}
		if inQuotes || inBrackets {
			continue
		}
		end := idx
		switch {
		case r == ',':
			comma = idx
		case idx == last:
			end, comma = idx+1, -1
		default:
			continue
		}
		ok, _ := address(text[:end])
		return ok, comma
	}
	return true, -1
}

// via is parseViaHeader: it fails only without two "/" and a white space
// after the transport, or on an IPv6 sent-by without "]". A bad port ends
// the parse without error. A comma in the parameters starts another value.
func via(s []byte) (ok bool, comma int) {
	off := 0
	for range 2 {
		i := bytes.IndexByte(s[off:], '/')
		if i < 0 {
			return false, -1
		}
		off += i + 1
	}
	i := bytes.IndexAny(s[off:], " \t")
	if i < 0 {
		return false, -1
	}
	off += i + 1
	host := s[off:]
	var params int // where the parameters start, in s
	if len(host) > 0 && host[0] == '[' {
		end := bytes.IndexByte(host, ']')
		if end < 0 {
			return false, -1
		}
		rest := host[end+1:]
		switch {
		case len(rest) == 0:
			return true, -1
		case rest[0] == ':':
			semi := bytes.IndexByte(rest, ';')
			p := rest[1:]
			if semi >= 0 {
				p = rest[1:semi]
			}
			if !atoiOK(bytes.TrimSpace(p)) || semi < 0 {
				return true, -1
			}
			params = off + end + 1 + semi + 1
		case rest[0] == ';':
			params = off + end + 2
		default:
			return true, -1
		}
	} else {
		colon, end := 0, len(host)
		for i, c := range host {
			if c == ';' {
				end = i
				break
			}
			if c == ':' {
				colon = i
			}
		}
		if colon > 0 && !atoiOK(host[colon+1:end]) {
			return true, -1
		}
		if end == len(host) {
			return true, -1
		}
		params = off + end + 1
	}
	if c := bytes.IndexByte(s[params:], ','); c > 0 {
		return true, params + c
	}
	return true, -1
}
