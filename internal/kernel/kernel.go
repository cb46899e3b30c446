// Package kernel opens the kernel enforcer that an example's -enforcer flag
// names, so that the examples map their flags to options in one place.
package kernel

import (
	"context"

	"github.com/sipban/sipban/enforce"
	"github.com/sipban/sipban/enforce/iptables"
	"github.com/sipban/sipban/enforce/nftables"
)

// Enforcer is what the kernel enforcers have in common.
type Enforcer interface {
	enforce.Enforcer
	enforce.Closer
}

// Open opens the enforcer named "nftables" or "iptables"; table is the
// nftables table or the ipset name prefix, and keep leaves the bans in the
// kernel on Close. known is false for any other name.
func Open(ctx context.Context, name, table string, keep bool) (e Enforcer, known bool, err error) {
	switch name {
	case "nftables":
		n, err := nftables.New(ctx, nftables.Options{Table: table, Keep: keep})
		if err != nil {
			return nil, true, err
		}
		return n, true, nil
	case "iptables":
		i, err := iptables.New(ctx, iptables.Options{Name: table, Keep: keep})
		if err != nil {
			return nil, true, err
		}
		return i, true, nil
	}
	return nil, false, nil
}
