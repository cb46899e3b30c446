package banredis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/internal/lograte"
)

// Options configure a Fleet. The zero value is usable.
type Options struct {
	// Prefix starts every key and channel name. Zero means "sipban:".
	Prefix string
	// Edge names this edge; changes it shares carry it, and Follow skips
	// them. Zero means the host name and a random suffix. Two edges must
	// never share a name.
	Edge string
	// Logger receives connection failures (once per streak) and bad data
	// (at most once a minute). Zero means slog.Default().
	Logger *slog.Logger
	// Timeout bounds one Share and each step of Follow's resync. Zero
	// means 2 s.
	Timeout time.Duration
	// Backoff is Follow's first wait after a failure, doubled on each
	// failure after it up to MaxBackoff. Zero means 100 ms; MaxBackoff's
	// zero means 5 s.
	Backoff, MaxBackoff time.Duration
	// Ping is how long Follow listens in silence before it asks the server
	// whether the connection still stands; one more Ping of silence after
	// that is a lost connection. Zero means 5 s.
	Ping time.Duration
}

// Fleet is a ban.Fleet on Redis (see the package doc for its data model).
// It is safe for concurrent use; Follow may run once per Fleet at a time.
type Fleet struct {
	c        redis.UniversalClient
	prefix   string
	edge     string
	edgeJSON string // edge as a JSON string, for messages
	log      *slog.Logger
	timeout  time.Duration
	backoff  time.Duration
	maxWait  time.Duration
	ping     time.Duration
	failing  streak
	bad      lograte.Limiter

	resyncs, received, skipped, failures atomic.Int64
	synced                               atomic.Bool
}

var _ ban.Fleet = (*Fleet)(nil)

// New returns a Fleet on client. It does no I/O: a Redis that is down
// shows in Share's error and in Follow's log.
func New(client redis.UniversalClient, opts Options) (*Fleet, error) {
	if client == nil {
		return nil, errors.New("banredis: nil client")
	}
	if opts.Prefix == "" {
		opts.Prefix = "sipban:"
	}
	if opts.Edge == "" {
		e, err := randomEdge()
		if err != nil {
			return nil, err
		}
		opts.Edge = e
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Timeout < 0 || opts.Backoff < 0 || opts.MaxBackoff < 0 || opts.Ping < 0 {
		return nil, errors.New("banredis: negative Timeout, Backoff, MaxBackoff or Ping")
	}
	f := &Fleet{
		c: client, prefix: opts.Prefix, edge: opts.Edge, log: opts.Logger,
		timeout: orDefault(opts.Timeout, 2*time.Second),
		backoff: orDefault(opts.Backoff, 100*time.Millisecond),
		maxWait: orDefault(opts.MaxBackoff, 5*time.Second),
		ping:    orDefault(opts.Ping, 5*time.Second),
		bad:     lograte.Limiter{Every: time.Minute},
	}
	e, _ := json.Marshal(f.edge) // a string always encodes
	f.edgeJSON = string(e)
	f.failing = streak{log: f.log.With("edge", f.edge), what: "fleet subscription"}
	return f, nil
}

// orDefault returns d, or def when d is zero.
func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// randomEdge names an edge by its host and 4 random bytes, so that two
// processes on one host differ.
func randomEdge() (string, error) {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "edge"
	}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("banredis: edge name: %w", err)
	}
	return host + "-" + hex.EncodeToString(b[:]), nil
}

// Edge returns this edge's name.
func (f *Fleet) Edge() string { return f.edge }

// Stats counts what a Fleet's Follow did.
type Stats struct {
	// Resyncs counts full reads of the fleet's records, one per connection.
	Resyncs int64
	// Received counts changes handed to fn.
	Received int64
	// Skipped counts records and messages that could not be read.
	Skipped int64
	// Failures counts lost or refused connections.
	Failures int64
	// Synced reports that Follow is connected and has resynced: from now
	// on, what is shared reaches it by message.
	Synced bool
}

// Stats returns the counts so far.
func (f *Fleet) Stats() Stats {
	return Stats{Resyncs: f.resyncs.Load(), Received: f.received.Load(), Skipped: f.skipped.Load(), Failures: f.failures.Load(), Synced: f.synced.Load()}
}

func (f *Fleet) recordKey(s string) string { return f.prefix + "rec:" + s }
func (f *Fleet) channel() string           { return f.prefix + "changes" }

// putScript replaces the record on a subject and publishes it in one step,
// so that no follower sees the message without the key, nor a key without
// its TTL. DEL first: the key may hold anything, even another type.
var putScript = redis.NewScript(`
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'until', ARGV[1], 'edge', ARGV[2], 'rec', ARGV[3])
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
`)

// liftScript deletes a record only if it is still the lifted one, and
// publishes the lift unless another record now stands on the subject:
// a lift of an old record must not end a newer one anywhere. A missing key
// still publishes, as Redis may have lost it while edges hold the record.
var liftScript = redis.NewScript(`
local u = redis.pcall('HGET', KEYS[1], 'until')
if type(u) == 'string' and u ~= ARGV[1] then return -1 end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
if u then return 1 end
return 0
`)

// Share implements ban.Fleet: the whole batch goes in one round trip. A
// record whose Until has passed is not shared (every edge ends it by its
// own clock), and changes other than OpRecord and OpEnd are not the
// fleet's and are skipped.
func (f *Fleet) Share(ctx context.Context, batch []ban.Change) error {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	now := time.Now()
	type call struct {
		s    *redis.Script
		key  string
		args []any
	}
	calls := make([]call, 0, len(batch))
	for _, c := range batch {
		if c.Op != ban.OpRecord && c.Op != ban.OpEnd || c.Op == ban.OpRecord && !c.Record.Until.After(now) {
			continue
		}
		sub := subjectOf(c)
		if sub == "invalid" {
			// Refused for good: an error would have the batch tried forever.
			f.skip(fmt.Errorf("banredis: share %v: invalid subject", c.Op))
			continue
		}
		value, msg, err := encodeMessage(f.edgeJSON, c)
		if err != nil {
			return err
		}
		if c.Op == ban.OpEnd {
			ms := strconv.FormatInt(c.Offence.End.UnixMilli(), 10)
			calls = append(calls, call{liftScript, f.recordKey(sub), []any{ms, f.channel(), msg}})
			continue
		}
		ms := strconv.FormatInt(c.Record.Until.UnixMilli(), 10)
		calls = append(calls, call{putScript, f.recordKey(sub), []any{ms, f.edge, value, f.channel(), msg}})
	}
	if len(calls) == 0 {
		return nil
	}
	run := func() ([]redis.Cmder, error) {
		return f.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, c := range calls {
				c.s.EvalSha(ctx, p, []string{c.key}, c.args...)
			}
			return nil
		})
	}
	cmds, err := run()
	if noScript(cmds) {
		// A restarted server has forgotten the scripts; the calls are
		// idempotent, so the batch is sent again whole.
		if err = loadScripts(ctx, f.c, putScript, liftScript); err == nil {
			_, err = run()
		}
	}
	if err != nil {
		return fmt.Errorf("banredis: share %d changes: %w", len(calls), err)
	}
	return nil
}

func noScript(cmds []redis.Cmder) bool {
	for _, c := range cmds {
		if redis.HasErrorPrefix(c.Err(), "NOSCRIPT") {
			return true
		}
	}
	return false
}

func loadScripts(ctx context.Context, c redis.UniversalClient, ss ...*redis.Script) error {
	for _, s := range ss {
		if err := s.Load(ctx, c).Err(); err != nil {
			return fmt.Errorf("load script: %w", err)
		}
	}
	return nil
}

// Follow implements ban.Fleet. Each connection subscribes first and then
// reads every record key, so that nothing shared meanwhile falls between
// the two; a record read both ways reaches fn twice. Any failure closes the
// connection, and the next one, after a backoff, resyncs again.
func (f *Fleet) Follow(ctx context.Context, fn func(ban.Change)) error {
	wait := f.backoff
	for {
		synced, err := f.follow(ctx, fn)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		f.failures.Add(1)
		f.failing.fail(err)
		if synced {
			wait = f.backoff // it worked for a while: not the same streak of retries
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, f.maxWait)
	}
}

// follow runs one connection until it fails; synced reports that it got as
// far as a whole resync.
func (f *Fleet) follow(ctx context.Context, fn func(ban.Change)) (synced bool, err error) {
	ps := f.c.Subscribe(ctx, f.channel())
	defer ps.Close()
	// A blocked read does not watch ctx; closing the connection ends it.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()

	// Wait for the server to confirm the subscription before reading
	// records: only then is nothing shared from here on missed.
	for {
		m, err := ps.ReceiveTimeout(ctx, f.timeout)
		if err != nil {
			return false, fmt.Errorf("banredis: subscribe: %w", err)
		}
		if _, ok := m.(*redis.Subscription); ok {
			break
		}
	}
	if err := f.resync(ctx, fn); err != nil {
		return false, err
	}
	f.resyncs.Add(1)
	f.synced.Store(true)
	defer f.synced.Store(false)
	f.failing.ok()

	pinged := false
	for {
		m, err := ps.ReceiveTimeout(ctx, f.ping)
		var ne net.Error
		switch {
		case err == nil:
		case errors.As(err, &ne) && ne.Timeout() && !pinged:
			// Silence: a dead connection or just a quiet fleet. The answer,
			// or its absence, tells.
			if err := ps.Ping(ctx); err != nil {
				return true, fmt.Errorf("banredis: ping: %w", err)
			}
			pinged = true
			continue
		default:
			return true, fmt.Errorf("banredis: receive: %w", err)
		}
		pinged = false
		if m, ok := m.(*redis.Message); ok {
			f.deliver(m.Payload, fn)
		}
	}
}

func (f *Fleet) deliver(payload string, fn func(ban.Change)) {
	edge, c, err := decodeMessage(payload)
	if err != nil {
		f.skip(err)
		return
	}
	if edge == f.edge {
		return
	}
	f.received.Add(1)
	fn(c)
}

// skip counts bad data and logs it, at most once a minute.
func (f *Fleet) skip(err error) {
	f.skipped.Add(1)
	if n := f.bad.Note(time.Now()); n > 0 {
		f.log.Warn("sipban: fleet data skipped: not readable or not valid", "edge", f.edge, "count", n, "error", err)
	}
}

// scanCount is how many keys one SCAN step asks for, and one pipeline
// reads.
const scanCount = 1000

// resync hands fn every record in Redis that another edge made.
func (f *Fleet) resync(ctx context.Context, fn func(ban.Change)) error {
	if cc, ok := f.c.(*redis.ClusterClient); ok {
		// Keys are spread over the masters; SCAN sees one node's.
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			return f.resyncNode(ctx, c, fn)
		})
	}
	return f.resyncNode(ctx, f.c, fn)
}

func (f *Fleet) resyncNode(ctx context.Context, c redis.Cmdable, fn func(ban.Change)) error {
	pattern := globEscape(f.recordKey("")) + "*"
	var cursor uint64
	for {
		sctx, cancel := context.WithTimeout(ctx, f.timeout)
		keys, next, err := c.Scan(sctx, cursor, pattern, scanCount).Result()
		if err != nil {
			cancel()
			return fmt.Errorf("banredis: resync: scan: %w", err)
		}
		cmds := make([]*redis.SliceCmd, len(keys))
		_, err = c.Pipelined(sctx, func(p redis.Pipeliner) error {
			for i, k := range keys {
				cmds[i] = p.HMGet(sctx, k, "until", "edge", "rec")
			}
			return nil
		})
		cancel()
		if err != nil && !anyReply(cmds) {
			return fmt.Errorf("banredis: resync: read records: %w", err)
		}
		for i, cmd := range cmds {
			f.resyncOne(keys[i], cmd, fn)
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}

// globEscape quotes what SCAN's MATCH would take for a pattern in s, so
// that any Prefix works.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// anyReply reports whether the server answered: a pipeline's error may be
// one key's (a key of the wrong type), not the connection's.
func anyReply(cmds []*redis.SliceCmd) bool {
	for _, c := range cmds {
		var re redis.Error
		if c.Err() == nil || errors.As(c.Err(), &re) {
			return true
		}
	}
	return false
}

func (f *Fleet) resyncOne(key string, cmd *redis.SliceCmd, fn func(ban.Change)) {
	v, err := cmd.Result()
	if err != nil {
		f.skip(fmt.Errorf("%w: %s: %v", errBadData, key, err))
		return
	}
	until, _ := v[0].(string)
	edge, _ := v[1].(string)
	rec, _ := v[2].(string)
	if until == "" && edge == "" && rec == "" {
		return // expired between SCAN and HMGET
	}
	if edge == f.edge {
		return
	}
	r, err := decodeRecord(key, strings.TrimPrefix(key, f.recordKey("")), until, rec)
	if err != nil {
		f.skip(err)
		return
	}
	f.received.Add(1)
	fn(ban.Change{Op: ban.OpRecord, Record: r})
}
