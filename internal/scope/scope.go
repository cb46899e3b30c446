// Package scope checks what a kernel ban covers, for the nftables and
// iptables enforcers: the destination ports whose packets a ban drops, and
// the source prefixes no ban drops. Its errors name the Options field and
// leave the package prefix to the enforcer that wraps them.
package scope

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
)

// SIP is what Ports returns for no ports: 5060 for SIP over UDP and TCP,
// 5061 for SIP over TLS.
func SIP() []uint16 { return []uint16{5060, 5061} }

// Ports returns the ports a ban drops, sorted and without repeats: nil when
// all is set (every port), SIP() when ports is empty. Port 0, and a list
// given with all, are errors.
func Ports(ports []uint16, all bool) ([]uint16, error) {
	if all {
		if len(ports) > 0 {
			return nil, fmt.Errorf("Options.Ports %v and Options.AllPorts: give one", ports)
		}
		return nil, nil
	}
	if len(ports) == 0 {
		return SIP(), nil
	}
	out := slices.Clone(ports)
	slices.Sort(out)
	out = slices.Compact(out)
	if out[0] == 0 {
		return nil, fmt.Errorf("Options.Ports: port 0")
	}
	return out, nil
}

// Allow returns the allow-list split by family, each part sorted and
// disjoint: IPv4-mapped prefixes in their IPv4 form, host bits cleared, and
// a prefix inside another left out (an interval set refuses overlapping
// elements). An invalid prefix is an error.
func Allow(allow []netip.Prefix) (v4, v6 []netip.Prefix, err error) {
	all := make([]netip.Prefix, 0, len(allow))
	for _, p := range allow {
		if !p.IsValid() {
			return nil, nil, fmt.Errorf("Options.Allow: invalid prefix %v", p)
		}
		if a := p.Addr(); a.Is4In6() {
			if p.Bits() < 96 {
				return nil, nil, fmt.Errorf("Options.Allow: %v is wider than the IPv4-mapped range", p)
			}
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		all = append(all, p.Masked())
	}
	// Sorted by first address, shorter first: a prefix that holds another
	// comes right before the ones it holds.
	slices.SortFunc(all, func(a, b netip.Prefix) int {
		return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
	})
	for _, p := range all {
		part := &v4
		if p.Addr().Is6() {
			part = &v6
		}
		if n := len(*part); n > 0 && (*part)[n-1].Contains(p.Addr()) {
			continue
		}
		*part = append(*part, p)
	}
	return v4, v6, nil
}
