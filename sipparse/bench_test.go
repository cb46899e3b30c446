package sipparse_test

import (
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/sipban/sipban/sipparse"
)

// BenchmarkParse compares Parse with sipgo's parser on the same bytes, as
// sipp sent them: a REGISTER with digest credentials and an INVITE with an
// SDP body.
func BenchmarkParse(b *testing.B) {
	files := testdata(b, "sipp/*.sip")
	parsers := []struct {
		name  string
		parse func([]byte) error
	}{
		{"sipparse", func(in []byte) error {
			var m sipparse.Message
			return sipparse.Parse(in, &m)
		}},
		{"sipgo", func(in []byte) error {
			_, err := sip.ParseMessage(in)
			return err
		}},
	}
	for _, msg := range []string{"register-auth.sip", "invite-sdp.sip"} {
		in := files[msg]
		for _, p := range parsers {
			b.Run(msg[:len(msg)-4]+"/"+p.name, func(b *testing.B) {
				b.SetBytes(int64(len(in)))
				b.ReportAllocs()
				for b.Loop() {
					if err := p.parse(in); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkSniff measures the start-line check a read filter makes.
func BenchmarkSniff(b *testing.B) {
	in := testdata(b, "sipp/register-auth.sip")["register-auth.sip"]
	b.ReportAllocs()
	for b.Loop() {
		if err := sipparse.Sniff(in); err != nil {
			b.Fatal(err)
		}
	}
}
