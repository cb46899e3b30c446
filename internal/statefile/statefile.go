// Package statefile makes state files of many bans, for the benchmarks of
// a restart.
package statefile

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/banbolt"
	"github.com/sipban/sipban/detect"
)

// Source is the i-th banned address: in 127.64.0.0/10, which loopback
// routes and no test sends from.
func Source(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{127, 64 + byte(i>>16), byte(i >> 8), byte(i)})
}

// Write makes a state file at path holding n address bans for guessing, as
// the Guard writes them, each with its evidence, ending after until.
func Write(path string, n int, since, until time.Time) error {
	st, err := banbolt.Open(path, nil)
	if err != nil {
		return err
	}
	batch := make([]ban.Change, 0, 10_000)
	for i := range n {
		batch = append(batch, ban.Change{Op: ban.OpRecord, Record: ban.StoredRecord{
			Subject: detect.SubjectOf(Source(i)), Scope: ban.ScopeAddress, Cause: detect.BadCredentials, Proven: true,
			Since: since, Until: until.Add(time.Duration(i) * time.Millisecond),
			Evidence: detect.Evidence{Count: 5, First: since, Last: since, Accounts: []string{"alice"}, DistinctAccounts: 1,
				UserAgents: []string{"friendly-scanner"}, Ports: []uint16{5060}, Statuses: []int{403},
				Detail: "5 rejected credentials for about 1 account(s)"}}})
		if len(batch) == cap(batch) || i == n-1 {
			if err := st.Write(context.Background(), batch); err != nil {
				st.Close()
				return fmt.Errorf("statefile: %w", err)
			}
			batch = batch[:0]
		}
	}
	return st.Close()
}
