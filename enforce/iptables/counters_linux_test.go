package iptables

import "testing"

func TestCounters(t *testing.T) {
	for _, tc := range []struct {
		line           string
		packets, bytes uint64
		ok             bool
	}{
		// As iptables-nft 1.8.9 prints a rule with -v -S: the counters before the target.
		{"-A PREROUTING -p udp -m multiport --dports 5060 -m comment --comment sipban -c 12 3456 -j DROP", 12, 3456, true},
		{"-A PREROUTING -m set --match-set sipban4 src -j DROP -c 1 2", 1, 2, true},
		{"-A PREROUTING -m set --match-set sipban4 src -j DROP", 0, 0, false},
		{"-A PREROUTING -j DROP -c x 2", 0, 2, false},
		{"-A PREROUTING -j DROP -c 1", 0, 0, false},
	} {
		p, b, ok := counters(tc.line)
		if ok != tc.ok || ok && (p != tc.packets || b != tc.bytes) {
			t.Errorf("counters(%q) = %d, %d, %v; want %d, %d, %v", tc.line, p, b, ok, tc.packets, tc.bytes, tc.ok)
		}
	}
}
