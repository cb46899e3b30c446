package kernel

import (
	"errors"
	"flag"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestFlagsScope(t *testing.T) {
	host := func() ([]net.Addr, error) {
		return []net.Addr{
			&net.IPNet{IP: net.ParseIP("127.0.0.1"), Mask: net.CIDRMask(8, 32)},
			&net.IPNet{IP: net.ParseIP("192.0.2.10").To16(), Mask: net.CIDRMask(24, 32)},
			&net.IPNet{IP: net.ParseIP("2001:db8::10"), Mask: net.CIDRMask(64, 128)},
			&net.IPAddr{IP: net.ParseIP("198.51.100.1")}, // not an interface address
		}, nil
	}
	for _, tc := range []struct {
		name  string
		flags Flags
		allow string
		ports []uint16
		all   bool
		err   string
	}{
		{"default: local addresses", Flags{}, "127.0.0.0/8 192.0.2.10/32 ::1/128 2001:db8::10/128", nil, false, ""},
		{"ban-local", Flags{BanLocal: true}, "", nil, false, ""},
		{"addresses and prefixes", Flags{BanLocal: true, Allow: " 203.0.113.7, 10.1.2.3/8,2001:db8:5::/48,::ffff:198.51.100.9"},
			"10.0.0.0/8 198.51.100.9/32 203.0.113.7/32 2001:db8:5::/48", nil, false, ""},
		{"merged with local", Flags{Allow: "127.0.0.9,192.0.2.0/24"}, "127.0.0.0/8 192.0.2.0/24 ::1/128 2001:db8::10/128", nil, false, ""},
		{"ports", Flags{BanLocal: true, Ports: "5080, 5060"}, "", []uint16{5080, 5060}, false, ""},
		{"all ports", Flags{BanLocal: true, AllPorts: true}, "", nil, true, ""},
		{"bad item", Flags{Allow: "10.0.0.0/8,10.0.0.300"}, "", nil, false, `-allow: "10.0.0.300" is neither an address nor a prefix`},
		{"bad bits", Flags{Allow: "10.0.0.0/33"}, "", nil, false, `-allow: "10.0.0.0/33"`},
		{"empty item", Flags{Allow: "10.0.0.1,,10.0.0.2"}, "", nil, false, "item 2 is empty"},
		{"zone", Flags{Allow: "fe80::1%eth0"}, "", nil, false, "zone"},
		{"bad port", Flags{Ports: "5060,sip"}, "", nil, false, `-ports: "sip" is not a port`},
		{"port 0", Flags{Ports: "0"}, "", nil, false, `-ports: "0" is not a port`},
		{"big port", Flags{Ports: "65536"}, "", nil, false, `"65536" is not a port`},
		{"ports and all", Flags{Ports: "5060", AllPorts: true}, "", nil, false, "-ports 5060 and -all-ports: give one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tc.flags.scope(host)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := s.AllowSummary(); got != tc.allow {
				t.Errorf("allow %q, want %q", got, tc.allow)
			}
			if !slices.Equal(s.Ports, tc.ports) || s.AllPorts != tc.all {
				t.Errorf("ports %v all %v, want %v %v", s.Ports, s.AllPorts, tc.ports, tc.all)
			}
		})
	}
	if _, err := (Flags{}).scope(func() ([]net.Addr, error) { return nil, errors.New("no netlink") }); err == nil || !strings.Contains(err.Error(), "-ban-local") {
		t.Errorf("interface error: %v", err)
	}
}

func TestRegister(t *testing.T) {
	var f Flags
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	f.Register(fs)
	if err := fs.Parse([]string{"-allow", "10.0.0.1", "-ban-local", "-ports", "5080", "-all-ports"}); err != nil {
		t.Fatal(err)
	}
	if f != (Flags{Allow: "10.0.0.1", BanLocal: true, Ports: "5080", AllPorts: true}) {
		t.Errorf("parsed %+v", f)
	}
}

func TestSummaries(t *testing.T) {
	var s Scope
	for i := range 10 {
		s.Allow = append(s.Allow, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), 32))
	}
	if got, want := s.AllowSummary(), "10.0.0.0/32 10.0.0.1/32 10.0.0.2/32 10.0.0.3/32 10.0.0.4/32 10.0.0.5/32 10.0.0.6/32 10.0.0.7/32 and 2 more"; got != want {
		t.Errorf("AllowSummary %q, want %q", got, want)
	}
	for _, tc := range []struct {
		s    Scope
		want string
	}{{Scope{}, "5060,5061"}, {Scope{Ports: []uint16{5080, 5060}}, "5060,5080"}, {Scope{AllPorts: true}, "all"}} {
		if got := tc.s.PortsSummary(); got != tc.want {
			t.Errorf("%+v: PortsSummary %q, want %q", tc.s, got, tc.want)
		}
	}
}
