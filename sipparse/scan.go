package sipparse

import "bytes"

// Character classes, RFC 3261 25.1.
const (
	cToken = 1 << iota // token
	cHost              // hostname or IPv4 address (plus "_", seen in the wild)
	cIPv6              // inside the brackets of an IPv6 reference
	cURI               // may appear in a URI: visible ASCII but <, > and "
	cValue             // generic-param value: token or host
	cAuth              // unquoted auth-param value: visible ASCII but ","
)

var class = func() (t [256]uint8) {
	for c := 0x21; c < 0x7f; c++ {
		t[c] |= cURI | cAuth
	}
	t['<'] &^= cURI
	t['>'] &^= cURI
	t['"'] &^= cURI | cAuth
	t[','] &^= cAuth
	for _, c := range []byte("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") {
		t[c] |= cToken | cHost | cValue
	}
	for _, c := range []byte("-.!%*_+`'~") {
		t[c] |= cToken | cValue
	}
	for _, c := range []byte("-._") {
		t[c] |= cHost
	}
	for _, c := range []byte("0123456789abcdefABCDEF:.") {
		t[c] |= cIPv6
	}
	for _, c := range []byte("[]:") {
		t[c] |= cValue
	}
	return t
}()

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func isDigits(b []byte) bool {
	for _, c := range b {
		if !isDigit(c) {
			return false
		}
	}
	return true
}

func isToken(b []byte) bool {
	return len(b) > 0 && tokenEnd(b, 0) == len(b)
}

// tokenEnd returns the index after the token at b[i:].
func tokenEnd(b []byte, i int) int {
	for i < len(b) && class[b[i]]&cToken != 0 {
		i++
	}
	return i
}

// skipWS skips white space at b[i:], folded line breaks included.
func skipWS(b []byte, i int) int {
	for i < len(b) && isWS(b[i]) {
		i++
	}
	return i
}

func trim(b []byte) []byte {
	i := skipWS(b, 0)
	j := len(b)
	for j > i && isWS(b[j-1]) {
		j--
	}
	return b[i:j]
}

// nilIfEmpty keeps Message's rule that absent and empty are both nil.
func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// equalFold reports whether b equals lower, ignoring ASCII case; lower
// must be lower case.
func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// number reads a decimal header value, clamped to max.
func number(v []byte, max int) (int, bool) {
	v = trim(v)
	if len(v) == 0 {
		return 0, false
	}
	n := 0
	for _, c := range v {
		if !isDigit(c) {
			return 0, false
		}
		if n = n*10 + int(c-'0'); n > max {
			n = max
		}
	}
	return n, true
}

// quotedEnd returns the index after the quoted string that starts at b[i].
func quotedEnd(b []byte, i int) (int, bool) {
	// Most quoted strings hold no escape: two vector scans, not a byte loop.
	if q := bytes.IndexByte(b[i+1:], '"'); q < 0 {
		return 0, false
	} else if bytes.IndexByte(b[i+1:i+1+q], '\\') < 0 {
		return i + q + 2, true
	}
	for k := i + 1; k < len(b); k++ {
		switch b[k] {
		case '\\':
			k++
		case '"':
			return k + 1, true
		}
	}
	return 0, false
}

// param reads a parameter at b[i:], after its ";" or ",": a token name,
// then optionally "=" and a value of the given class or a quoted string,
// returned without quotes. next is the index after it.
func param(b []byte, i int, value uint8) (name, val []byte, next int, ok bool) {
	i = skipWS(b, i)
	e := tokenEnd(b, i)
	if e == i {
		return nil, nil, 0, false
	}
	name = b[i:e]
	j := skipWS(b, e)
	if j == len(b) || b[j] != '=' {
		return name, nil, e, true
	}
	j = skipWS(b, j+1)
	if j < len(b) && b[j] == '"' {
		q, ok := quotedEnd(b, j)
		if !ok {
			return nil, nil, 0, false
		}
		return name, nilIfEmpty(b[j+1 : q-1]), q, true
	}
	k := j
	for k < len(b) && class[b[k]]&value != 0 {
		k++
	}
	if k == j {
		return nil, nil, 0, false
	}
	return name, b[j:k], k, true
}

// hostPort reads host [":" port] at b[i:]. With sws, white space may
// surround the colon, as in a Via sent-by.
func hostPort(b []byte, i int, sws bool) (host []byte, port uint16, next int, ok bool) {
	if i < len(b) && b[i] == '[' {
		e := bytes.IndexByte(b[i:], ']')
		if e < 3 {
			return nil, 0, 0, false
		}
		host = b[i+1 : i+e]
		for _, c := range host {
			if class[c]&cIPv6 == 0 {
				return nil, 0, 0, false
			}
		}
		i += e + 1
	} else {
		j := i
		for j < len(b) && class[b[j]]&cHost != 0 {
			j++
		}
		if j == i {
			return nil, 0, 0, false
		}
		host, i = b[i:j], j
	}
	j := i
	if sws {
		j = skipWS(b, j)
	}
	if j == len(b) || b[j] != ':' {
		return host, 0, i, true
	}
	j++
	if sws {
		j = skipWS(b, j)
	}
	k, n := j, 0
	for k < len(b) && isDigit(b[k]) {
		if n = n*10 + int(b[k]-'0'); n > 65535 {
			return nil, 0, 0, false
		}
		k++
	}
	if k == j {
		return nil, 0, 0, false
	}
	return host, uint16(n), k, true
}

// parseURI reads the URI s, which must be all of it.
func parseURI(s []byte, u *URI) bool {
	*u = URI{}
	if len(s) == 0 {
		return false
	}
	// Every byte must be a URI character: the scheme and host checks
	// below use narrower classes, the rest is checked with uriChars.
	colon := bytes.IndexByte(s, ':')
	if colon <= 0 || s[0]|0x20 < 'a' || s[0]|0x20 > 'z' {
		return false
	}
	for _, c := range s[1:colon] {
		if class[c]&cHost == 0 && c != '+' {
			return false
		}
	}
	u.Raw, u.Scheme = s, s[:colon]
	rest := s[colon+1:]
	switch {
	case equalFold(u.Scheme, "sip"), equalFold(u.Scheme, "sips"):
		if at := bytes.IndexByte(rest, '@'); at >= 0 {
			if !uriChars(rest[:at]) {
				return false
			}
			user := rest[:at]
			if c := bytes.IndexByte(user, ':'); c >= 0 {
				user = user[:c]
			}
			if len(user) == 0 {
				return false
			}
			u.User, rest = user, rest[at+1:]
		}
		host, port, next, ok := hostPort(rest, 0, false)
		if !ok || next < len(rest) && rest[next] != ';' && rest[next] != '?' || !uriChars(rest[next:]) {
			return false
		}
		u.Host, u.Port = host, port
	case equalFold(u.Scheme, "tel"):
		n := bytes.IndexByte(rest, ';')
		if n < 0 {
			n = len(rest)
		}
		if n == 0 || !uriChars(rest) {
			return false
		}
		u.User = rest[:n]
	default:
		return len(rest) > 0 && uriChars(rest)
	}
	return true
}

func uriChars(b []byte) bool {
	for _, c := range b {
		if class[c]&cURI == 0 {
			return false
		}
	}
	return true
}

// parseNameAddr reads a From, To or Contact value. With multi, a comma
// outside quotes and brackets ends the value (a list of Contacts).
func parseNameAddr(v []byte, na *NameAddr, multi bool) bool {
	i := skipWS(v, 0)
	if i == len(v) {
		return false
	}
	if v[i] == '"' {
		e, ok := quotedEnd(v, i)
		if !ok {
			return false
		}
		na.Display = nilIfEmpty(v[i+1 : e-1])
		if i = skipWS(v, e); i == len(v) || v[i] != '<' {
			return false
		}
	} else {
		// An unquoted display name runs up to "<"; a URI without
		// brackets cannot hold ";" or "," (RFC 3261 20.10).
		for k := i; k < len(v); k++ {
			c := v[k]
			if c == '<' {
				na.Display = nilIfEmpty(trim(v[i:k]))
				i = k
				break
			}
			if c == ';' || c == '"' || multi && c == ',' {
				break
			}
		}
	}
	var uri []byte
	if v[i] == '<' {
		gt := bytes.IndexByte(v[i+1:], '>')
		if gt < 0 {
			return false
		}
		// White space inside the brackets is tolerated (RFC 4475 badaspec).
		uri = trim(v[i+1 : i+1+gt])
		i += gt + 2
	} else {
		e := i
		for e < len(v) && !isWS(v[e]) && v[e] != ';' && v[e] != ',' {
			e++
		}
		uri, i = v[i:e], e
	}
	if !parseURI(uri, &na.URI) {
		return false
	}
	for {
		i = skipWS(v, i)
		if i == len(v) || multi && v[i] == ',' {
			return true
		}
		if v[i] != ';' {
			return false
		}
		name, val, next, ok := param(v, i+1, cValue)
		if !ok {
			return false
		}
		switch {
		case na.Tag == nil && equalFold(name, "tag"):
			na.Tag = val
		case na.Instance == nil && equalFold(name, "+sip.instance"):
			na.Instance = val
		}
		i = next
	}
}

// parseVia reads the first value of a Via header.
func parseVia(v []byte, via *Via) bool {
	i := skipWS(v, 0)
	// sent-protocol: name SLASH version SLASH transport, SLASH = SWS "/" SWS.
	for k := 0; k < 2; k++ {
		e := tokenEnd(v, i)
		if e == i {
			return false
		}
		if i = skipWS(v, e); i == len(v) || v[i] != '/' {
			return false
		}
		i = skipWS(v, i+1)
	}
	e := tokenEnd(v, i)
	if e == i {
		return false
	}
	via.Transport = v[i:e]
	if i = skipWS(v, e); i == e {
		return false
	}
	host, port, next, ok := hostPort(v, i, true)
	if !ok {
		return false
	}
	via.Host, via.Port, i = host, port, next
	for {
		i = skipWS(v, i)
		if i == len(v) || v[i] == ',' {
			return true
		}
		if v[i] != ';' {
			return false
		}
		name, val, next, ok := param(v, i+1, cValue)
		if !ok {
			return false
		}
		switch {
		case equalFold(name, "branch"):
			if via.Branch == nil {
				via.Branch = val
			}
		case equalFold(name, "received"):
			if via.Received == nil {
				via.Received = val
			}
		case equalFold(name, "rport"):
			if via.RPort < 0 {
				if val == nil {
					via.RPort = 0
				} else if n, ok := number(val, 65536); ok && n < 65536 {
					via.RPort = n
				} else {
					return false
				}
			}
		}
		i = next
	}
}

// parseAuth reads Authorization or Proxy-Authorization credentials, or with
// challenge the first challenge of WWW-Authenticate or Proxy-Authenticate.
// Only Digest parameters are read; other schemes keep just their name. A
// challenge ends where a bare token is followed by more than a comma: the
// next challenge's scheme, in HTTP's list form.
func parseAuth(v []byte, a *Auth, challenge bool) bool {
	i := skipWS(v, 0)
	e := tokenEnd(v, i)
	if e == i {
		return false
	}
	a.Scheme = v[i:e]
	if !equalFold(a.Scheme, "digest") {
		return true
	}
	if e < len(v) && !isWS(v[e]) {
		return false
	}
	i = e
	for {
		i = skipWS(v, i)
		if i == len(v) {
			return true
		}
		if v[i] == ',' {
			i++
			continue
		}
		at := i // param starts its name here: i is past white space
		name, val, next, ok := param(v, i, cAuth)
		if !ok {
			return false
		}
		switch {
		case equalFold(name, "username"):
			if a.Username == nil {
				a.Username = val
			}
		case equalFold(name, "realm"):
			if a.Realm == nil {
				a.Realm = val
			}
		case equalFold(name, "nonce"):
			if a.Nonce == nil {
				a.Nonce = val
			}
		}
		if i = skipWS(v, next); i < len(v) && v[i] != ',' {
			// A bare token (no "=") and another token after it: with
			// challenge, the next challenge starts.
			return challenge && next == at+len(name) && class[v[i]]&cToken != 0
		}
	}
}
