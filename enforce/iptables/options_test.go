package iptables

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		opts Options
		err  string
	}{
		{Options{}, ""},
		{Options{Name: "voip_ban-2", MaxElem: 8}, ""},
		{Options{Name: strings.Repeat("n", MaxNameLen), MaxElem: 1<<32 - 1}, ""},
		{Options{Name: strings.Repeat("n", MaxNameLen+1)}, "longer than 29"},
		{Options{Name: "bad name"}, "only letters"},
		{Options{Name: "x;y"}, "only letters"},
		{Options{Name: "é"}, "only letters"},
		{Options{MaxElem: -1}, "maxelem -1"},
		{Options{MaxElem: 1 << 32}, "maxelem 4294967296"},
		{Options{Ports: []uint16{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}}, ""},
		{Options{Ports: []uint16{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}}, "16 ports"},
		{Options{Ports: []uint16{0}}, "Options.Ports: port 0"},
		{Options{Ports: []uint16{5060}, AllPorts: true}, "give one"},
		{Options{AllPorts: true, Allow: []netip.Prefix{netip.MustParsePrefix("::/0")}}, ""},
		{Options{Allow: []netip.Prefix{{}}}, "Options.Allow: invalid prefix"},
	} {
		o, err := tc.opts.withDefaults()
		if tc.err == "" {
			if err != nil {
				t.Errorf("%+v: %v", tc.opts, err)
			} else if o.Name == "" || o.MaxElem == 0 || o.Now == nil {
				t.Errorf("%+v: defaults not filled: %+v", tc.opts, o)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.HasPrefix(err.Error(), "iptables: ") {
			t.Errorf("%+v: error %v, want one containing %q", tc.opts, err, tc.err)
		}
	}
	o, _ := Options{}.withDefaults()
	if o.Name != "sipban" || o.MaxElem != 1<<20 || !slices.Equal(o.Ports, []uint16{5060, 5061}) {
		t.Errorf("defaults: %+v", o)
	}
}

func TestTimeout(t *testing.T) {
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		d    time.Duration
		want uint32
	}{
		{-time.Hour, 0},
		{0, 0},
		{time.Nanosecond, 1}, // never 0: ipset reads 0 as forever
		{time.Second, 1},
		{time.Second + time.Nanosecond, 2}, // rounded up, never early
		{time.Hour, 3600},
		{MaxTimeout - time.Millisecond, 2147483},
		{MaxTimeout, 2147483},
		{100 * 24 * time.Hour, 2147483},
		{1<<63 - 1, 2147483},
	} {
		if got := timeout(now.Add(tc.d), now); got != tc.want {
			t.Errorf("timeout(now+%v) = %d, want %d", tc.d, got, tc.want)
		}
	}
}
