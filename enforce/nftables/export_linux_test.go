package nftables

import (
	"context"

	"github.com/sipban/sipban/enforce"
)

// CommitOne bans everything in one transaction whatever its size, for
// TestBatchLimit.
func CommitOne(e *Enforcer, bans []enforce.Ban) error {
	e.opts.BatchSize = len(bans)
	return e.BanAll(context.Background(), bans)
}
