package sipparse_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"github.com/sipban/sipban/sipparse"
)

// seed adds every testdata message and a few edge cases to f's corpus.
func seed(f *testing.F) {
	for _, pattern := range []string{"torture/*.dat", "sipp/*.sip", "sipgo/*.sip"} {
		for _, b := range testdata(f, pattern) {
			f.Add(b)
		}
	}
	for _, b := range sipgoMessages() {
		f.Add(b)
	}
	for _, s := range []string{
		"", "\r\n\r\n", "\x00\x00\x00\x00", "SIP/2.0 200 OK\r\n\r\n", crlf(register), register,
		"INVITE sip:[::1]:5060 SIP/2.0\r\nv: SIP/2.0/UDP [::1];rport=5\r\nl: 1\r\n\r\nx",
		"SIP/2.0 407 Proxy Authentication Required\r\nProxy-Authenticate: Digest realm=\"p\", nonce=\"n\", Basic realm=x\r\nl: 0\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
}

// byteFields returns every []byte field of m, nested structs included.
func byteFields(m *sipparse.Message) [][]byte {
	var out [][]byte
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch {
		case v.Kind() == reflect.Struct:
			for i := range v.NumField() {
				walk(v.Field(i))
			}
		case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8:
			out = append(out, v.Bytes())
		}
	}
	walk(reflect.ValueOf(m).Elem())
	return out
}

// within reports whether field is nil or a non-empty part of in's memory.
func within(in, field []byte) bool {
	if field == nil {
		return true
	}
	if len(field) == 0 {
		return false // Message's rule: empty is nil
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(in)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(field)))
	return p >= lo && p+uintptr(len(field)) <= lo+uintptr(len(in))
}

// end returns the index in in just after field, which must be within it.
func end(in, field []byte) int {
	return int(uintptr(unsafe.Pointer(unsafe.SliceData(field)))-uintptr(unsafe.Pointer(unsafe.SliceData(in)))) + len(field)
}

// FuzzParse checks what Parse promises for any input: no panic, fields
// inside the part of the input the message used (nonces included), the
// credentials and challenge read only from headers that were there and
// nonces only from Digest, the
// same result twice and over a Message already filled, the same result from
// ParseSkip but for what it skips, and agreement with Sniff.
func FuzzParse(f *testing.F) {
	seed(f)
	other := []byte(crlf(register))
	f.Fuzz(func(t *testing.T, b []byte) {
		var m sipparse.Message
		err := sipparse.Parse(b, &m)
		if name := errName(err); strings.HasPrefix(name, "unexpected") || strings.HasPrefix(name, "FieldError") {
			t.Fatalf("Parse: %s", name)
		}
		if m.Len < 0 || m.Len > len(b) {
			t.Fatalf("Len %d, input %d bytes", m.Len, len(b))
		}
		used := b
		if m.Len > 0 {
			used = b[:m.Len]
		}
		for _, field := range byteFields(&m) {
			if !within(used, field) {
				t.Fatalf("field %q is not within the %d bytes used", field, len(used))
			}
		}
		if a := m.Auth; !a.Present && (a.Proxy || a.Scheme != nil || a.Username != nil || a.Realm != nil || a.Nonce != nil) {
			t.Fatalf("credentials read from no header: %+v", a)
		}
		if c := m.Challenge; !c.Present && (c.Proxy || c.Scheme != nil || c.Realm != nil || c.Nonce != nil) {
			t.Fatalf("challenge read from no header: %+v", c)
		}
		// Nonces are Digest parameters: another scheme keeps its name only.
		if m.Auth.Nonce != nil && !strings.EqualFold(string(m.Auth.Scheme), "digest") ||
			m.Challenge.Nonce != nil && !strings.EqualFold(string(m.Challenge.Scheme), "digest") {
			t.Fatalf("a nonce outside Digest: %+v %+v", m.Auth, m.Challenge)
		}
		framed := err == nil || errors.Is(err, sipparse.ErrMalformed)
		switch {
		case framed && m.Body != nil && end(b, m.Body) != m.Len:
			t.Fatalf("Body ends at %d, Len %d", end(b, m.Body), m.Len)
		case framed && m.Len == 0 && len(b) > 0:
			t.Fatalf("%v with Len 0", err)
		case !framed && !errors.Is(err, sipparse.ErrKeepAlive) && (m.Len != 0 || m.Body != nil):
			t.Fatalf("%v with Len %d and %d bytes of body", err, m.Len, len(m.Body))
		case err == nil && m.ContentLength >= 0 && len(m.Body) != m.ContentLength:
			t.Fatalf("Content-Length %d, body %d bytes", m.ContentLength, len(m.Body))
		}

		// The same error value, not just the same kind, and every field.
		m2 := sipparse.Message{}
		_ = sipparse.Parse(other, &m2)
		if err2 := sipparse.Parse(b, &m2); err2 != err || !reflect.DeepEqual(m, m2) {
			t.Fatalf("second Parse differs:\n%v %+v\n%v %+v", err, m, err2, m2)
		}

		// ParseSkip reads the same but what it skips; a response's error
		// names a skipped field only when Parse's did not.
		var skipped sipparse.Message
		errSkip := sipparse.ParseSkip(b, &skipped, sipparse.ResponseAddrs)
		addrs := false
		if fe := (*sipparse.FieldError)(nil); errors.As(err, &fe) {
			addrs = fe.Field() == "From" || fe.Field() == "To" || fe.Field() == "Contact"
		}
		want := m
		if !m.Request {
			want.From, want.To, want.Contact, want.ContactStar = sipparse.NameAddr{}, sipparse.NameAddr{}, sipparse.NameAddr{}, false
		}
		switch {
		case !reflect.DeepEqual(want, skipped):
			t.Fatalf("ParseSkip read\n%+v\nParse\n%+v", skipped, m)
		case m.Request && errSkip != err, !m.Request && !addrs && errSkip != err:
			t.Fatalf("ParseSkip: %v, Parse: %v", errSkip, err)
		case !m.Request && addrs && errSkip != nil && !errors.Is(errSkip, sipparse.ErrMalformed):
			t.Fatalf("ParseSkip: %v, Parse: %v", errSkip, err)
		}

		sniff := sipparse.Sniff(b)
		switch {
		case errors.Is(err, sipparse.ErrKeepAlive), errors.Is(err, sipparse.ErrNotSIP):
			if sniff != err {
				t.Fatalf("Parse: %v, Sniff: %v", err, sniff)
			}
		case sniff != nil && sniff != err:
			t.Fatalf("Parse: %v, Sniff: %v", err, sniff)
		}
	})
}

// FuzzFraming checks what a stream reader relies on, for every message
// Parse reads without error and with a Content-Length: every shorter prefix
// needs more bytes, and bytes after Len change nothing.
func FuzzFraming(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		var m sipparse.Message
		if err := sipparse.Parse(b, &m); err != nil || m.ContentLength < 0 {
			return
		}
		var m2 sipparse.Message
		// A copy with more bytes after the message, in other memory.
		more := append(append([]byte(nil), b[:m.Len]...), "INVITE sip:x@y SIP/2.0\r\nl: 9\r\n\r\n"...)
		if err := sipparse.Parse(more, &m2); err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("with more bytes after Len: %v\n%+v\n%+v", err, m, m2)
		}
		step := 1 + m.Len/256
		for k := 0; k < m.Len; k += step {
			err := sipparse.Parse(b[:k], &m2)
			if !errors.Is(err, sipparse.ErrTruncated) && !errors.Is(err, sipparse.ErrKeepAlive) {
				t.Fatalf("prefix of %d of %d bytes: %v", k, m.Len, err)
			}
			if err := sipparse.Sniff(b[:k]); err != nil && !errors.Is(err, sipparse.ErrTruncated) && !errors.Is(err, sipparse.ErrKeepAlive) {
				t.Fatalf("Sniff of prefix of %d of %d bytes: %v", k, m.Len, err)
			}
		}
	})
}
