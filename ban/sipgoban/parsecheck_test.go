package sipgoban

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/sipparse"
)

// sipgoRefuses reports whether sipgo's UDP transport fails to parse b: it
// takes up to 4 bytes of CR and LF for a keep-alive, and gives the rest to
// its parser, which is sip.ParseMessage's (transport_udp.go parseAndHandle).
func sipgoRefuses(b []byte) (bool, error) {
	if len(b) <= 4 && len(bytes.Trim(b, "\r\n")) == 0 {
		return false, nil
	}
	_, err := sip.ParseMessage(b)
	return err != nil, err
}

// files returns the files matching pattern, by base name.
func files(t testing.TB, pattern string) map[string][]byte {
	t.Helper()
	names, err := filepath.Glob(pattern)
	require.NoError(t, err)
	require.NotEmpty(t, names, pattern)
	out := make(map[string][]byte, len(names))
	for _, name := range names {
		b, err := os.ReadFile(name)
		require.NoError(t, err)
		out[filepath.Base(name)] = b
	}
	return out
}

// malformedFiles lists testdata/refused, each with the reason refusal gives;
// sipgo must refuse each. testdata/accepted holds near misses sipgo takes.
var malformedFiles = map[string]string{
	"via-no-slash.sip":                whyHeader[hVia],
	"via-no-host.sip":                 whyHeader[hVia],
	"via-ipv6-unclosed.sip":           whyHeader[hVia],
	"via-list-second-bad.sip":         whyHeader[hVia],
	"cseq-no-method.sip":              whyHeader[hCSeq],
	"cseq-too-big.sip":                whyHeader[hCSeq],
	"cseq-not-number.sip":             whyHeader[hCSeq],
	"cseq-folded-empty.sip":           whyHeader[hCSeq],
	"content-length-past-body.sip":    whyBodyShort,
	"content-length-negative.sip":     whyHeader[hContentLength],
	"content-length-compact-text.sip": whyHeader[hContentLength],
	"call-id-empty.sip":               whyHeader[hCallID],
	"from-unclosed-quote.sip":         whyHeader[hFrom],
	"from-no-scheme.sip":              whyHeader[hFrom],
	"to-wildcard.sip":                 whyHeader[hTo],
	"to-unclosed-bracket.sip":         whyHeader[hTo],
	"contact-bad-port.sip":            whyHeader[hContact],
	"contact-trailing-comma.sip":      whyHeader[hContact],
	"max-forwards-word.sip":           whyHeader[hMaxForwards],
	"content-type-empty.sip":          whyHeader[hContentType],
	"route-ipv6-unclosed.sip":         whyHeader[hRoute],
	"record-route-no-scheme.sip":      whyHeader[hRecordRoute],
	"header-without-colon.sip":        whyHeaderLine,
	"bare-lf.sip":                     whyLineEnd,
	"cr-without-lf.sip":               whyLineEnd,
	"no-blank-line.sip":               whyNoBlankLine,
	"crlf-before-start.sip":           whyLeadingCRLF,
	"start-two-spaces.sip":            whyStartLine,
	"start-trailing-space.sip":        whyStartLine,
	"start-no-version.sip":            whyStartLine,
	"request-uri-no-scheme.sip":       whyRequestURI,
	"request-uri-wildcard.sip":        whyRequestURI,
	"request-uri-bad-port.sip":        whyRequestURI,
	"http.sip":                        whyStartLine,
	"response-bad-status.sip":         whyStatus,
}

// TestSipgoAgrees checks refusal against sipgo's parser both ways: each
// malformed datagram is refused, for the reason listed, exactly as sipgo
// refuses it, and each near miss in testdata/accepted passes as sipgo
// takes it.
func TestSipgoAgrees(t *testing.T) {
	refused := files(t, "testdata/refused/*.sip")
	assert.ElementsMatch(t, slices.Collect(maps.Keys(malformedFiles)), slices.Collect(maps.Keys(refused)), "testdata/refused and the table")
	cases := map[string]struct {
		b   []byte
		why string
	}{
		"too large":         {append([]byte(register), bytes.Repeat([]byte("x"), maxMessage)...), whyTooLarge},
		"keep-alive":        {[]byte("\r\n\r\n"), ""},
		"long keep-alive":   {[]byte("\r\n\r\n\r\n"), whyLeadingCRLF},
		"NULs and CRLF":     {[]byte("\r\n\x00\x00"), whyLeadingCRLF},
		"empty":             {nil, ""},
		"register":          {[]byte(register), ""},
		"folded Via":        {[]byte(strings.Replace(register, "UDP 6.6.6.6", "UDP\r\n 6.6.6.6", 1)), ""},
		"folded to nothing": {[]byte(strings.Replace(register, "CSeq: 2 REGISTER", "CSeq:\r\n \r\n 2 REGISTER", 1)), ""},
		"folded, cut short": {[]byte(strings.Replace(register, "Content-Length: 0\r\n\r\n", "Content-Length: 0\r\n 0", 1)), whyLineEnd},
	}
	for name, b := range refused {
		cases["refused/"+name] = struct {
			b   []byte
			why string
		}{b, malformedFiles[name]}
	}
	for name, b := range files(t, "testdata/accepted/*.sip") {
		cases["accepted/"+name] = struct {
			b   []byte
			why string
		}{b, ""}
	}
	for _, name := range slices.Sorted(maps.Keys(cases)) {
		tc := cases[name]
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.why, refusal(tc.b))
			refuses, err := sipgoRefuses(tc.b)
			assert.Equal(t, tc.why != "", refuses, "sipgo: %v", err)
		})
	}
}

// sipgoDiffers lists the messages of sipparse/testdata where refusal and
// sipgo disagree, and why. There are none.
var sipgoDiffers = map[string]string{}

// TestSipgoAgreesTorture checks refusal against sipgo on the RFC 4475
// torture messages and the captures in sipparse/testdata, and records what
// Sniff, the filter's old test, let through although sipgo refuses it.
func TestSipgoAgreesTorture(t *testing.T) {
	msgs := map[string][]byte{}
	for _, dir := range []string{"torture/*.dat", "sipp/*.sip", "sipgo/*.sip"} {
		for name, b := range files(t, filepath.Join("../../sipparse/testdata", dir)) {
			msgs[filepath.Dir(dir)+"/"+name] = b
		}
	}
	var refused, sniffed []string
	for _, name := range slices.Sorted(maps.Keys(msgs)) {
		b := msgs[name]
		why := refusal(b)
		refuses, err := sipgoRefuses(b)
		if refuses {
			refused = append(refused, name)
			if sipparse.Sniff(b) == nil {
				sniffed = append(sniffed, name)
			}
		}
		if (why != "") != refuses {
			if reason, ok := sipgoDiffers[name]; ok {
				t.Logf("%s: %s", name, reason)
				continue
			}
			t.Errorf("%s: refusal %q, sipgo %v", name, why, err)
		}
	}
	assert.Len(t, msgs, 54, "49 torture messages, 4 sipp captures, 1 sipgo message")
	assert.Equal(t, []string{
		"torture/badaspec.dat", "torture/baddn.dat", "torture/badinv01.dat", "torture/bigcode.dat",
		"torture/clerr.dat", "torture/ltgtruri.dat", "torture/lwsruri.dat", "torture/lwsstart.dat",
		"torture/ncl.dat", "torture/novelsc.dat", "torture/quotbal.dat", "torture/scalar02.dat",
		"torture/scalarlg.dat", "torture/trws.dat",
	}, refused)
	assert.Equal(t, refused, sniffed, "Sniff passed every one of them")
}

func TestRefusalNoAlloc(t *testing.T) {
	folded := []byte(strings.Replace(register, "UDP 6.6.6.6", "UDP\r\n 6.6.6.6", 1))
	for _, b := range [][]byte{[]byte(register), folded, []byte("INVITE sip:a SIP/2.0\r\nVia: x\r\n\r\n")} {
		refusal(b) // fills the pool
		assert.Zero(t, testing.AllocsPerRun(100, func() { refusal(b) }), "%q", b)
	}
}
