package nftables_test

import (
	"testing"

	"github.com/sipban/sipban/enforce/nftables"
	"github.com/sipban/sipban/internal/netnstest"
	"github.com/sipban/sipban/internal/scope/scopetest"
)

func TestDropped(t *testing.T) {
	netnstest.Require(t)
	e := open(t, nftables.Options{})
	t.Cleanup(func() { e.Close() })
	scopetest.Counts(t, e)
}
