package nftables

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/sipban/sipban/internal/scope"
)

// Options configure an Enforcer. The zero value is usable.
type Options struct {
	// Table is the name of the nftables table (family inet) the Enforcer
	// owns. Empty means "sipban". Two Enforcers must not share a table.
	Table string
	// Keep leaves the table, its rules and its bans in the kernel on Close,
	// so that bans outlive the process until their timeouts; a new
	// Enforcer on the same table adopts them. False removes the table.
	Keep bool
	// BatchSize is how many elements go in one netlink message. Zero means
	// DefaultBatchSize; more than MaxBatchSize is refused.
	BatchSize int
	// Ports are the destination ports, TCP and UDP alike, whose packets a
	// ban drops; a banned source still reaches every other port, so that
	// a ban, perhaps of a spoofed address, never cuts ssh or an admin
	// API. Empty means 5060 and 5061: SIP over UDP and TCP, and over
	// TLS. Port 0, and Ports given with AllPorts, are refused.
	Ports []uint16
	// AllPorts makes a ban drop every packet from the source, whatever
	// its protocol and port. False means Ports only.
	AllPorts bool
	// Allow lists prefixes whose packets no ban drops, even a ban on a
	// wider prefix that holds them (an IPv4 /24 or IPv6 /48 the Guard
	// aggregated): the operator's own addresses. Empty means none. A
	// prefix inside another is redundant and left out.
	Allow []netip.Prefix
}

const (
	// DefaultTable is the table name used when Options.Table is empty.
	DefaultTable = "sipban"
	// DefaultBatchSize fits a netlink message with room to spare: the
	// element list is one netlink attribute, whose length is 16 bits.
	DefaultBatchSize = 1024
	// MaxBatchSize is the largest batch of IPv6 elements with timeouts
	// whose element list still fits one attribute (measured: see
	// TestBatchLimit).
	MaxBatchSize = 1638
	// MaxTimeout is the longest timeout given to the kernel; longer bans
	// are installed for MaxTimeout. The in-memory ban still holds, and
	// ban.Guard.Resync installs it again before the kernel drops it.
	MaxTimeout = 20 * 24 * time.Hour
)

// settings are Options with defaults applied, and Allow split by family.
type settings struct {
	Options
	allow4, allow6 []netip.Prefix
}

func (opts Options) withDefaults() (settings, error) {
	o := settings{Options: opts}
	var err error
	if o.Table == "" {
		o.Table = DefaultTable
	}
	if len(o.Table) > 255 {
		return o, fmt.Errorf("nftables: table name longer than 255 bytes")
	}
	for _, c := range o.Table {
		if !(c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return o, fmt.Errorf("nftables: table name %q: only letters, digits, '_' and '-'", o.Table)
		}
	}
	switch {
	case o.BatchSize == 0:
		o.BatchSize = DefaultBatchSize
	case o.BatchSize < 0 || o.BatchSize > MaxBatchSize:
		return o, fmt.Errorf("nftables: batch size %d: want 1 to %d", o.BatchSize, MaxBatchSize)
	}
	if o.Ports, err = scope.Ports(o.Ports, o.AllPorts); err != nil {
		return o, fmt.Errorf("nftables: %w", err)
	}
	if o.allow4, o.allow6, err = scope.Allow(o.Allow); err != nil {
		return o, fmt.Errorf("nftables: %w", err)
	}
	return o, nil
}
