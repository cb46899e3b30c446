package nftables_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/banbolt"
	"github.com/sipban/sipban/enforce"
	"github.com/sipban/sipban/enforce/nftables"
	"github.com/sipban/sipban/internal/netnstest"
	"github.com/sipban/sipban/internal/statefile"
)

// BenchmarkRestart measures a restart with the nftables enforcer: the state
// file opened, its bans restored, and Reconcile putting them in the kernel.
// "fresh" starts with an empty table (after a reboot); "kept" with the
// table the last run left (-keep), which Reconcile reads back and matches
// to the records.
func BenchmarkRestart(b *testing.B) {
	netnstest.Require(b)
	now := time.Now()
	ctx := context.Background()
	for _, n := range []int{100_000, 1_000_000} {
		path := filepath.Join(b.TempDir(), "state.db")
		if err := statefile.Write(path, n, now, now.Add(time.Hour)); err != nil {
			b.Fatal(err)
		}
		for _, kept := range []bool{false, true} {
			name := strconv.Itoa(n) + "/fresh"
			if kept {
				name = strconv.Itoa(n) + "/kept"
			}
			b.Run(name, func(b *testing.B) {
				for b.Loop() {
					b.StopTimer()
					if !kept {
						_ = open(b, nftables.Options{Table: "restart"}).Close()
					}
					b.StartTimer()
					e := open(b, nftables.Options{Table: "restart", Keep: true})
					st, err := banbolt.Open(path, nil)
					if err != nil {
						b.Fatal(err)
					}
					g, err := ban.New(ban.Options{Logger: slog.New(slog.DiscardHandler), Store: st, Enforcers: []enforce.Enforcer{e}})
					if err != nil {
						b.Fatal(err)
					}
					if got, err := g.Restore(ctx); err != nil || got != n {
						b.Fatalf("restored %d of %d: %v", got, n, err)
					}
					adopted, err := g.Reconcile(ctx)
					if err != nil || adopted != 0 {
						b.Fatalf("adopted %d kernel bans as unknown: %v", adopted, err)
					}
					b.StopTimer()
					if err := errors.Join(g.Close(ctx), st.Close(), e.Close()); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
			})
		}
	}
}
