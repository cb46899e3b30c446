package nftables

import (
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
	} {
		o, err := tc.opts.withDefaults()
		if tc.err == "" {
			if err != nil {
				t.Errorf("%+v: %v", tc.opts, err)
			} else if o.Table == "" || o.BatchSize == 0 {
				t.Errorf("%+v: defaults not filled: %+v", tc.opts, o)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%+v: error %v, want one containing %q", tc.opts, err, tc.err)
		}
	}
}
