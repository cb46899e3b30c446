// Package sipparse reads the fields detectors need from raw SIP messages
// (RFC 3261) without allocating and without copying.
//
// The input is one UDP datagram or the head of a TCP/TLS stream buffer.
// Parse fills a Message whose byte slices point into the input; it never
// panics and never reads past the input, whatever an attacker sends. Sniff
// judges the first line only, for read filters that drop junk early.
//
//	var m sipparse.Message
//	err := sipparse.Parse(datagram, &m)
//	switch {
//	case errors.Is(err, sipparse.ErrKeepAlive):
//		// CRLFs: nothing to do.
//	case err != nil && !errors.Is(err, sipparse.ErrMalformed):
//		// Not SIP, or cut short: report and drop it.
//	default:
//		account := m.Auth.Username // nil when no credentials came
//		...
//	}
//
// # Fields
//
// Parse reads the start line (method and Request-URI, or status code and
// reason), the top Via (transport, sent-by, branch, received, rport), From
// and To (display name, URI, tag), the first Contact (or "*"), Call-ID, CSeq,
// User-Agent, Server, Expires, Content-Length, the Digest username, realm
// and nonce of Authorization or else Proxy-Authorization, the scheme, realm
// and nonce of the first challenge in WWW-Authenticate or else
// Proxy-Authenticate, and the body. URIs are read
// for their scheme, user, host and port (sip, sips and tel; other schemes
// keep only Scheme and Raw). Other headers are skipped unread. ParseSkip
// leaves some fields unread too, for readers that never look at them: with
// ResponseAddrs, a response's From, To and Contact (watch pairs responses
// without them, and spends 8% fewer instructions per message).
//
// It takes what RFC 3261 allows: CRLF or bare LF line ends, CRLFs before
// the start line (7.5), folded lines, header names in any case and in
// compact form (v, f, t, i, m, l), white space around ":" "/" ";" "=",
// several Via or Contact values in one header (the first one counts),
// quoted display names with escapes, IPv6 references in brackets. A ";tag"
// inside "<...>" belongs to the URI; outside, or after a URI without
// brackets, it is a header parameter (20.10). Escapes (%HH and \") are left
// as sent. It tolerates what RFC 4475 asks receivers to tolerate: white
// space after the SIP version and inside "<...>", and unquoted display names
// with commas in From and To.
//
// # Errors
//
// Parse returns nil or one of these; test them with errors.Is:
//
//   - ErrKeepAlive: only CR, LF and NUL bytes. Len is len(b).
//   - ErrNotSIP: the first line is not, and cannot become, a SIP/2.0 request
//     or status line. Nothing is read.
//   - ErrTruncated: the headers have no blank line yet, or the body is
//     shorter than Content-Length. On a stream: read more. The complete
//     header lines are read; Len is 0.
//   - ErrTooLarge: past MaxHeaderBytes or MaxBodyBytes. The header lines
//     before the limit are read; Len is 0.
//   - ErrMalformed, in a *FieldError that names the first field Parse could
//     not read: every other field, Body and Len are set. A repeated From,
//     To, Call-ID, CSeq, Content-Length, Expires, User-Agent or Server is
//     malformed too; the first value is kept, but two Content-Lengths leave
//     ContentLength at -1.
//
// A missing header is not an error: its fields stay nil, 0 or -1 as
// documented on Message. Parse judges only the fields it reads, so a message
// that breaks the grammar elsewhere parses without error.
//
// # Streams
//
// On a stream, parse from the head of the buffer and drop m.Len bytes after
// each message (and after ErrKeepAlive). Wait for more bytes on
// ErrTruncated. Close the connection on ErrNotSIP, ErrTooLarge, or when
// ContentLength is -1: RFC 3261 18.3 requires Content-Length on streams, and
// without it Body and Len run to the end of the buffer. A datagram longer
// than its Content-Length ends at Len; the rest is not part of the message.
//
// # Limits
//
// MaxHeaderBytes (64 KiB) bounds the start line and headers; MaxBodyBytes
// (1 MiB) bounds Content-Length. They are what a stream reader may have to
// buffer per connection before Parse decides.
//
// # Numbers
//
// Parse against sipgo v1.7.2's sip.ParseMessage on the same bytes, as sipp
// sent them (testdata/sipp): a 547-byte REGISTER with digest credentials and
// a 497-byte INVITE with SDP. Medians of five runs on a shared 2-core AMD
// EPYC, Go 1.26:
//
//	message               parser    ns/op  B/op  allocs/op  ratio
//	REGISTER with digest  sipparse    547     0          0   6.6×
//	                      sipgo      3599  2808         39
//	INVITE with SDP       sipparse    391     0          0   7.7×
//	                      sipgo      3015  2232         34
//
// Sniff takes 15 ns. To reproduce:
//
//	go test -run '^$' -bench . -benchmem -count 5 ./sipparse
//
// # Concurrency
//
// Parse and Sniff keep no state: any number of goroutines may call them,
// each with its own Message.
package sipparse
