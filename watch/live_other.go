//go:build !linux

package watch

import (
	"context"
	"errors"
	"fmt"
)

// Live is a live capture; it is available on Linux only. Elsewhere, capture
// with tcpdump and use ReadFile.
type Live struct{}

var errLive = fmt.Errorf("watch: live capture needs Linux: %w", errors.ErrUnsupported)

// OpenLive returns an error wrapping errors.ErrUnsupported.
func OpenLive(iface string) (*Live, error) { return nil, errLive }

// Run returns an error wrapping errors.ErrUnsupported.
func (l *Live) Run(ctx context.Context, d *Decoder, fn func(*Packet) error) error { return errLive }

// Close does nothing.
func (l *Live) Close() error { return nil }
