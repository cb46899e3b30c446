package nftables

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		opts Options
		err  string
	}{
		{Options{}, ""},
		{Options{Table: "voip_ban-2", BatchSize: MaxBatchSize}, ""},
		{Options{Table: "bad name"}, "only letters"},
		{Options{Table: `x"; flush ruleset`}, "only letters"},
		{Options{Table: strings.Repeat("t", 256)}, "longer than 255"},
		{Options{BatchSize: -1}, "batch size"},
		{Options{BatchSize: MaxBatchSize + 1}, "batch size"},
		{Options{Ports: []uint16{5080}, Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, ""},
		{Options{AllPorts: true}, ""},
		{Options{Ports: []uint16{5060, 0}}, "nftables: Options.Ports: port 0"},
		{Options{Ports: []uint16{5060}, AllPorts: true}, "give one"},
		{Options{Allow: []netip.Prefix{{}}}, "nftables: Options.Allow: invalid prefix"},
	} {
		o, err := tc.opts.withDefaults()
		if tc.err == "" {
			if err != nil {
				t.Errorf("%+v: %v", tc.opts, err)
			} else if o.Table == "" || o.BatchSize == 0 || len(o.Ports) == 0 && !o.AllPorts {
				t.Errorf("%+v: defaults not filled: %+v", tc.opts, o)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%+v: error %v, want one containing %q", tc.opts, err, tc.err)
		}
	}
}

func TestDefaultPorts(t *testing.T) {
	o, err := Options{}.withDefaults()
	if err != nil || !slices.Equal(o.Ports, []uint16{5060, 5061}) {
		t.Errorf("default Ports %v, %v; want [5060 5061]", o.Ports, err)
	}
}
