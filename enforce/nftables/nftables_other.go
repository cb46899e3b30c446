//go:build !linux

package nftables

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/sipban/sipban/enforce"
)

// Enforcer is available on Linux only; elsewhere New fails and every method
// returns enforce.ErrUnsupported.
type Enforcer struct{}

var errUnsupported = fmt.Errorf("nftables: %w", enforce.ErrUnsupported)

// New returns enforce.ErrUnsupported: nftables is Linux-only.
func New(ctx context.Context, opts Options) (*Enforcer, error) {
	if _, err := opts.withDefaults(); err != nil {
		return nil, err
	}
	return nil, errUnsupported
}

// Dropped returns enforce.ErrUnsupported.
func (e *Enforcer) Dropped(ctx context.Context) (packets, bytes uint64, err error) {
	return 0, 0, errUnsupported
}

// Ban returns enforce.ErrUnsupported.
func (e *Enforcer) Ban(ctx context.Context, p netip.Prefix, until time.Time) error {
	return errUnsupported
}

// Unban returns enforce.ErrUnsupported.
func (e *Enforcer) Unban(ctx context.Context, p netip.Prefix) error { return errUnsupported }

// BanAll returns enforce.ErrUnsupported.
func (e *Enforcer) BanAll(ctx context.Context, bans []enforce.Ban) error { return errUnsupported }

// UnbanAll returns enforce.ErrUnsupported.
func (e *Enforcer) UnbanAll(ctx context.Context, prefixes []netip.Prefix) error {
	return errUnsupported
}

// List returns enforce.ErrUnsupported.
func (e *Enforcer) List(ctx context.Context) ([]enforce.Ban, error) { return nil, errUnsupported }

// Close returns nil: there is nothing to release.
func (e *Enforcer) Close() error { return nil }
