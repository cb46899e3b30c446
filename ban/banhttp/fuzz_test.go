package banhttp_test

import (
	"strings"
	"testing"

	"github.com/sipban/sipban/ban/banhttp"
)

// FuzzAcceptLanguage: whatever the header, the tags returned are at most
// 16, each a well-formed tag written in the header and none refused ("*",
// q=0), so that nothing odd reaches the Guard's language lookup.
func FuzzAcceptLanguage(f *testing.F) {
	for _, s := range []string{"", "de", "de-CH, fr;q=0.9, en;q=0.8, *;q=0.5", "de;q=0, en", "en;q=x,,;", "a;q=1e-400", strings.Repeat("de,", 40)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		tags := banhttp.AcceptLanguage(header)
		if len(tags) > 16 {
			t.Fatalf("%d tags", len(tags))
		}
		for _, tag := range tags {
			if tag == "" || tag == "*" || len(tag) > 35 || strings.ContainsAny(tag, " ,;=\t") || !strings.Contains(header, tag) {
				t.Fatalf("tag %q from %q", tag, header)
			}
			for _, part := range strings.Split(header, ",") {
				name, params, _ := strings.Cut(part, ";")
				if strings.TrimSpace(name) == tag && strings.ReplaceAll(strings.TrimSpace(params), " ", "") == "q=0" {
					// Unless the same tag is also written with a q above 0.
					if strings.Count(header, tag) == 1 {
						t.Fatalf("tag %q refused with q=0 was returned from %q", tag, header)
					}
				}
			}
		}
	})
}
