package detect

import (
	"net/netip"
	"strings"
	"testing"
)

func TestSubjectRoundTrip(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.7":           "203.0.113.7",
		"203.0.113.7/32":        "203.0.113.7",
		"::ffff:203.0.113.7":    "203.0.113.7",
		"2001:db8:1:2::77/64":   "2001:db8:1:2::/64",
		"carol@198.51.100.7":    "carol@198.51.100.7",
		"a@b@2001:db8::1":       "a@b@2001:db8::1",
		"alice@2001:db8:1::/48": "alice@2001:db8:1::/48",
	} {
		s, err := ParseSubject(in)
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if s.String() != want {
			t.Errorf("%q: got %q, want %q", in, s, want)
		}
	}
	for _, bad := range []string{"", "@1.2.3.4", "x", "1.2.3.4/33", "::ffff:1.2.3.4/120", "fe80::1%eth0", "1.2.3.4@"} {
		if _, err := ParseSubject(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if _, err := ParseSubject("not-a-subject"); err == nil || !strings.Contains(err.Error(), `"not-a-subject" is not an address, a prefix`) {
		t.Errorf("a word: %v, want an error that names it and the forms", err)
	}
	if (Subject{}).String() != "invalid" || SubjectOf(netip.MustParseAddr("::ffff:1.2.3.4")).String() != "1.2.3.4" {
		t.Error("zero or mapped subject misprinted")
	}
}

func FuzzParseSubject(f *testing.F) {
	for _, s := range []string{"203.0.113.7", "2001:db8::/64", "carol@198.51.100.7", "a@", "::ffff:1.2.3.4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseSubject(in)
		if err != nil {
			return
		}
		again, err := ParseSubject(s.String())
		if err != nil {
			t.Fatalf("%q parsed to %q, which does not parse: %v", in, s, err)
		}
		if again != s {
			t.Fatalf("%q: round trip %v != %v", in, again, s)
		}
	})
}
