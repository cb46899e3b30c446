package scope

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestPorts(t *testing.T) {
	for _, tc := range []struct {
		ports []uint16
		all   bool
		want  []uint16
		err   string
	}{
		{nil, false, []uint16{5060, 5061}, ""},
		{[]uint16{}, false, []uint16{5060, 5061}, ""},
		{[]uint16{5080, 5060, 5080}, false, []uint16{5060, 5080}, ""},
		{nil, true, nil, ""},
		{[]uint16{5060}, true, nil, "give one"},
		{[]uint16{5060, 0}, false, nil, "port 0"},
	} {
		got, err := Ports(tc.ports, tc.all)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Ports(%v, %v): error %v, want %q", tc.ports, tc.all, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("Ports(%v, %v) = %v, %v; want %v", tc.ports, tc.all, got, err, tc.want)
		}
	}
	in := []uint16{5061, 5060}
	if _, err := Ports(in, false); err != nil || in[0] != 5061 {
		t.Errorf("Ports changed its argument: %v", in)
	}
}

func TestAllow(t *testing.T) {
	pfx := func(s string) []netip.Prefix {
		var out []netip.Prefix
		for f := range strings.FieldsSeq(s) {
			out = append(out, netip.MustParsePrefix(f))
		}
		return out
	}
	for _, tc := range []struct {
		in, v4, v6 string
		err        string
	}{
		{"", "", "", ""},
		{"10.1.2.3/8 ::ffff:192.0.2.7/128 ::1/128", "10.0.0.0/8 192.0.2.7/32", "::1/128", ""},
		// Inside another, or the same twice: left out.
		{"10.9.0.0/16 10.0.0.0/8 10.0.0.0/8 11.0.0.1/32 2001:db8:1::/48 2001:db8::/32", "10.0.0.0/8 11.0.0.1/32", "2001:db8::/32", ""},
		// Adjacent ones stay apart.
		{"10.0.0.128/25 10.0.0.0/25", "10.0.0.0/25 10.0.0.128/25", "", ""},
		{"::ffff:0.0.0.0/95", "", "", "wider than the IPv4-mapped"},
	} {
		v4, v6, err := Allow(pfx(tc.in))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Allow(%s): error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(v4, pfx(tc.v4)) || !slices.Equal(v6, pfx(tc.v6)) {
			t.Errorf("Allow(%s) = %v %v, %v; want %s | %s", tc.in, v4, v6, err, tc.v4, tc.v6)
		}
	}
	if _, _, err := Allow([]netip.Prefix{{}}); err == nil {
		t.Error("Allow of an invalid prefix: no error")
	}
}
