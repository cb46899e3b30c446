// Package redisfleet sets up the examples' -redis: one client of the Redis
// server, the fleet that shares bans through it, and the fleet-wide
// offence counter.
package redisfleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/banredis"
	"github.com/sipban/sipban/detect"
)

// Fleet is an edge's part in a fleet sharing one Redis.
type Fleet struct {
	client  *redis.Client
	Fleet   *banredis.Fleet
	Counter *banredis.Counter
}

// Open connects nothing yet: the fleet and the counter reach addr when they
// run, and keep trying while it is away. limits are the Guard's, so that
// the fleet counts against the same thresholds.
func Open(addr string, limits detect.Limits, log *slog.Logger) (*Fleet, error) {
	if addr == "" {
		return nil, errors.New("redisfleet: no address")
	}
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second})
	f, err := banredis.New(c, banredis.Options{Logger: log})
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("redisfleet: %w", err)
	}
	n, err := banredis.NewCounter(c, banredis.CounterOptions{Limits: limits, Logger: log})
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("redisfleet: %w", err)
	}
	return &Fleet{client: c, Fleet: f, Counter: n}, nil
}

// Options adds the fleet and its counter to opts; the counter goes first
// among the detectors, so that those counting findings see its own.
func (f *Fleet) Options(opts *ban.Options) {
	opts.Fleet = f.Fleet
	opts.Detectors = append([]detect.Detector{f.Counter}, opts.Detectors...)
}

// Run sends the counter's counts until ctx is done; the Guard's Run
// follows the fleet.
func (f *Fleet) Run(ctx context.Context) error { return f.Counter.Run(ctx) }

// Close closes the client.
func (f *Fleet) Close() error { return f.client.Close() }
