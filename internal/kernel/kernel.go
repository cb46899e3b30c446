// Package kernel opens the kernel enforcer that an example's -enforcer flag
// names, and parses the flags the examples share for it (-allow,
// -ban-local, -ports, -all-ports), so that the examples map their flags to
// options in one place.
package kernel

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/sipban/sipban/enforce"
	"github.com/sipban/sipban/enforce/iptables"
	"github.com/sipban/sipban/enforce/nftables"
	"github.com/sipban/sipban/internal/scope"
)

// Enforcer is what the kernel enforcers have in common.
type Enforcer interface {
	enforce.Enforcer
	enforce.Closer
}

// Options configure the enforcer Open opens. The zero value is usable.
type Options struct {
	// Table is the nftables table or the ipset name prefix. Empty means
	// the enforcer's default, "sipban".
	Table string
	// Keep leaves the bans in the kernel on Close.
	Keep bool
	// Scope is what a ban covers.
	Scope
}

// Scope is what a kernel ban covers. The zero value is the enforcers'
// default: ports 5060 and 5061, nothing allow-listed.
type Scope struct {
	// Ports are the destination ports, TCP and UDP, a ban drops. Empty
	// means 5060 and 5061.
	Ports []uint16
	// AllPorts drops every packet from a banned source.
	AllPorts bool
	// Allow lists prefixes that are never banned, nor dropped by a ban
	// on a wider prefix; the examples give it to ban.Policy.Allow too.
	Allow []netip.Prefix
}

// Open opens the enforcer named "nftables" or "iptables" with o. known is
// false for any other name.
func Open(ctx context.Context, name string, o Options) (e Enforcer, known bool, err error) {
	switch name {
	case "nftables":
		n, err := nftables.New(ctx, nftables.Options{Table: o.Table, Keep: o.Keep, Ports: o.Ports, AllPorts: o.AllPorts, Allow: o.Allow})
		if err != nil {
			return nil, true, err
		}
		return n, true, nil
	case "iptables":
		i, err := iptables.New(ctx, iptables.Options{Name: o.Table, Keep: o.Keep, Ports: o.Ports, AllPorts: o.AllPorts, Allow: o.Allow})
		if err != nil {
			return nil, true, err
		}
		return i, true, nil
	}
	return nil, false, nil
}

// Flags are the command-line flags the examples share for what a ban
// covers. The zero value allow-lists loopback and the host's addresses,
// and bans drop the SIP ports.
type Flags struct {
	// Allow is -allow: prefixes or bare addresses, comma-separated.
	Allow string
	// BanLocal is -ban-local: loopback and the host's addresses are not
	// added to the allow-list.
	BanLocal bool
	// Ports is -ports: comma-separated ports; empty means 5060,5061.
	Ports string
	// AllPorts is -all-ports.
	AllPorts bool
}

// Register defines the flags on fs.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.Allow, "allow", "", "never ban these `prefixes`, comma-separated (a bare address is a /32 or /128); a kernel ban on a wider prefix spares them too")
	fs.BoolVar(&f.BanLocal, "ban-local", false, "do not allow-list loopback and this host's own addresses (for tests and demos that attack from 127.0.0.x)")
	fs.StringVar(&f.Ports, "ports", "", "destination `ports`, comma-separated, whose TCP and UDP packets a kernel ban drops (default 5060,5061)")
	fs.BoolVar(&f.AllPorts, "all-ports", false, "a kernel ban drops every packet from the source, on every port")
}

// Scope parses the flags. Unless BanLocal is set, the allow-list starts
// with loopback and every address of the host's interfaces, as they are
// now; an address added later is not on it.
func (f Flags) Scope() (Scope, error) {
	return f.scope(net.InterfaceAddrs)
}

func (f Flags) scope(ifaddrs func() ([]net.Addr, error)) (Scope, error) {
	var s Scope
	var err error
	if s.Ports, err = parsePorts(f.Ports); err != nil {
		return s, err
	}
	if f.AllPorts && len(s.Ports) > 0 {
		return s, fmt.Errorf("-ports %s and -all-ports: give one", f.Ports)
	}
	s.AllPorts = f.AllPorts
	if s.Allow, err = ParsePrefixes("-allow", f.Allow); err != nil {
		return s, err
	}
	if !f.BanLocal {
		local, err := ifaddrs()
		if err != nil {
			return s, fmt.Errorf("the host's addresses, to allow-list (or give -ban-local): %w", err)
		}
		s.Allow = append(s.Allow, netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"))
		for _, a := range local {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok {
					ip = ip.Unmap()
					s.Allow = append(s.Allow, netip.PrefixFrom(ip, ip.BitLen()))
				}
			}
		}
	}
	// Sorted, and without what an entry before holds: short to log.
	v4, v6, err := scope.Allow(s.Allow)
	if err != nil {
		return s, fmt.Errorf("-allow: %w", err)
	}
	s.Allow = append(v4, v6...)
	return s, nil
}

// items splits a comma-separated flag value, refusing empty items.
func items(name, v string) ([]string, error) {
	if v == "" {
		return nil, nil
	}
	out := strings.Split(v, ",")
	for i, it := range out {
		out[i] = strings.TrimSpace(it)
		if out[i] == "" {
			return nil, fmt.Errorf("%s %q: item %d is empty", name, v, i+1)
		}
	}
	return out, nil
}

func parsePorts(v string) ([]uint16, error) {
	its, err := items("-ports", v)
	if err != nil {
		return nil, err
	}
	var out []uint16
	for _, it := range its {
		n, err := strconv.ParseUint(it, 10, 16)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("-ports: %q is not a port from 1 to 65535", it)
		}
		out = append(out, uint16(n))
	}
	return out, nil
}

// ParsePrefixes reads flag's value v: prefixes or bare addresses (a /32
// or /128), comma-separated.
func ParsePrefixes(flag, v string) ([]netip.Prefix, error) {
	its, err := items(flag, v)
	if err != nil {
		return nil, err
	}
	var out []netip.Prefix
	for _, it := range its {
		if a, err := netip.ParseAddr(it); err == nil {
			if a.Zone() != "" {
				return nil, fmt.Errorf("%s: %q: an address with a zone; give it without", flag, it)
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(it)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is neither an address nor a prefix (like 192.0.2.7 or 2001:db8::/32)", flag, it)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// AllowSummary lists the allow-list for a log line: every prefix if there
// are few, else the first ones and how many more.
func (s Scope) AllowSummary() string {
	const few = 8
	var b strings.Builder
	for i, p := range s.Allow {
		if i == few {
			fmt.Fprintf(&b, " and %d more", len(s.Allow)-few)
			break
		}
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// PortsSummary says which ports a ban drops, for a log line.
func (s Scope) PortsSummary() string {
	if s.AllPorts {
		return "all"
	}
	ports, _ := scope.Ports(s.Ports, false)
	ps := make([]string, len(ports))
	for i, p := range ports {
		ps[i] = strconv.Itoa(int(p))
	}
	return strings.Join(ps, ",")
}
