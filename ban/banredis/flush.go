package banredis

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sipban/sipban/detect"
)

// countScript adds to a subject's bucket and reads the window back, in one
// step. KEYS[1..4] are the counts of buckets b..b-3; for an account,
// KEYS[5..8] hold each bucket's sources. ARGV: the increment, the keys' TTL
// in ms, "1" to clear the subject first (a ban was made), then the sources
// to add. It returns the four counts, the distinct sources (at most
// maxSources) and up to two of them. Keys of the wrong type count as empty.
var countScript = redis.NewScript(`
if ARGV[3] == '1' then redis.call('DEL', unpack(KEYS)) end
local n = tonumber(ARGV[1])
if n > 0 then
  redis.call('INCRBY', KEYS[1], n)
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if #KEYS > 4 and #ARGV > 3 then
  for i = 4, #ARGV do
    if redis.call('SCARD', KEYS[5]) >= ` + strconv.Itoa(maxSources) + ` then break end
    redis.call('SADD', KEYS[5], ARGV[i])
  end
  redis.call('PEXPIRE', KEYS[5], ARGV[2])
end
local r = {}
for i = 1, 4 do
  local v = redis.pcall('GET', KEYS[i])
  r[i] = type(v) == 'string' and tonumber(v) or 0
end
local seen, srcs = {}, {}
for i = 5, #KEYS do
  local m = redis.pcall('SRANDMEMBER', KEYS[i], ` + strconv.Itoa(maxSources) + `)
  if type(m) == 'table' then
    for _, a in ipairs(m) do
      if not seen[a] and #srcs < ` + strconv.Itoa(maxSources) + ` then seen[a] = true; srcs[#srcs+1] = a end
    end
  end
end
r[5] = #srcs
for i = 1, math.min(#srcs, 2) do r[5+i] = srcs[i] end
return r
`)

// Run sends what Observe counted every Interval until ctx is done, and
// returns ctx.Err(). Failures are logged once per streak; their counts wait
// for the next try.
func (c *Counter) Run(ctx context.Context) error {
	tick := time.NewTicker(c.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			_ = c.Flush(ctx) // logged by Flush, once per streak
		}
	}
}

// Flush sends what is waiting in one round trip and reads the fleet's
// counts back for the subjects sent. When Redis cannot be reached the
// counts wait for the next Flush (those of buckets still in the window),
// and Flush returns the error.
func (c *Counter) Flush(ctx context.Context) error {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	c.mu.Lock()
	batch := c.pending
	if len(batch) == 0 {
		c.mu.Unlock()
		return nil
	}
	c.pending = make(map[pendKey]pend, len(batch))
	c.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	keys := make([]pendKey, 0, len(batch))
	for k := range batch {
		keys = append(keys, k)
	}
	run := func() ([]redis.Cmder, error) {
		return c.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range keys {
				c.send(ctx, p, k, batch[k])
			}
			return nil
		})
	}
	cmds, err := run()
	if noScript(cmds) {
		if err = loadScripts(ctx, c.c, countScript); err == nil {
			cmds, err = run()
		}
	}
	// Each call stands alone: a connection lost midway fails those not
	// answered, which wait for the next Flush; the server's refusal is bad
	// data, skipped.
	var failed map[pendKey]pend
	var lost, bad error
	for i, k := range keys {
		v, err := cmds[i].(*redis.Cmd).Slice()
		var re redis.Error
		switch {
		case err == nil:
			if err := c.apply(k, batch[k].n, v); err != nil {
				bad = err
			}
		case errors.As(err, &re) && !redis.HasErrorPrefix(err, "NOSCRIPT"):
			bad = err
		default:
			// Unanswered, or the script could not be loaded again: Redis's
			// state, not bad data. These counts wait.
			if failed == nil {
				failed = make(map[pendKey]pend)
			}
			failed[k], lost = batch[k], err
		}
	}
	if bad != nil {
		if n := c.bad.Note(time.Now()); n > 0 {
			c.log.Warn("sipban: fleet counts skipped: bad data in redis", "count", n, "error", bad)
		}
	}
	if failed != nil {
		if err != nil {
			lost = err // the pipeline's or the script load's: what went wrong first
		}
		c.requeue(failed)
		err := fmt.Errorf("banredis: send %d of %d fleet counts: %w", len(failed), len(keys), lost)
		c.failing.fail(err)
		return err
	}
	c.failing.ok()
	return nil
}

// send queues k's script call on p.
func (c *Counter) send(ctx context.Context, p redis.Pipeliner, k pendKey, v pend) {
	var keys []string
	switch k.kind {
	case kindAddr:
		keys = c.bucketKeys("fail:addr:{"+detect.Subject{Prefix: k.sub}.String()+"}:", k.bucket, nil)
	case kindAcct:
		tag := "{" + k.acct + "}:"
		keys = c.bucketKeys("fail:acct:"+tag, k.bucket, nil)
		keys = c.bucketKeys("fail:src:"+tag, k.bucket, keys)
	}
	reset := "0"
	if v.reset {
		reset = "1"
	}
	args := []any{v.n, c.ttl, reset}
	for _, s := range v.srcs {
		if s.IsValid() {
			args = append(args, detect.Subject{Prefix: s}.String())
		}
	}
	countScript.EvalSha(ctx, p, keys, args...)
}

func (c *Counter) bucketKeys(name string, b int64, dst []string) []string {
	for i := range int64(buckets) {
		dst = append(dst, c.prefix+name+strconv.FormatInt(b-i, 10))
	}
	return dst
}

// requeue puts back counts that could not be sent, merged with those
// counted since, unless their bucket left the window or the queue is full.
func (c *Counter) requeue(batch map[pendKey]pend) {
	oldest := c.now().UnixNano()/c.width - (buckets - 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, v := range batch {
		if k.bucket < oldest {
			continue
		}
		p, ok := c.pending[k]
		if !ok && len(c.pending) >= c.maxPending {
			continue
		}
		if p.reset {
			continue // cleared since: what was counted before is gone
		}
		p.n += v.n
		p.reset = v.reset
		for _, s := range v.srcs {
			p.srcs = addSource(p.srcs, s)
		}
		c.pending[k] = p
	}
}

// apply takes in the fleet's counts for k, of which sent were this edge's.
func (c *Counter) apply(k pendKey, sent int32, v []any) error {
	if len(v) < buckets+1 {
		return fmt.Errorf("%w: count reply of %d values", errBadData, len(v))
	}
	var counts [buckets]int32
	for i := range buckets {
		n, ok := v[i].(int64)
		if !ok {
			return fmt.Errorf("%w: count %v", errBadData, v[i])
		}
		counts[i] = int32(min(max(n, 0), math.MaxInt32))
	}
	var h uint64
	m := c.addrs
	if k.kind == kindAcct {
		m, h = c.accts, acctHash(k.acct)
	} else {
		h = addrHash(k.sub)
	}
	sh := m.Shard(h)
	sh.Lock()
	defer sh.Unlock()
	t, ok := sh.Get(h)
	if !ok {
		return nil // forgotten to make room meanwhile
	}
	t.advance(k.bucket)
	d := t.head - k.bucket
	for i := int64(0); i+d < buckets; i++ {
		t.fleet[i+d] = counts[i]
	}
	if d < buckets {
		t.mine[d] = max(t.mine[d]-sent, 0)
	}
	if k.kind == kindAcct {
		n, _ := v[buckets].(int64)
		t.srcN = int32(min(max(n, 0), maxSources))
		t.srcs = [2][16]byte{}
		for i, s := range v[buckets+1:] {
			if i == len(t.srcs) {
				break
			}
			str, _ := s.(string)
			sub, err := detect.ParseSubject(str)
			if err != nil || sub.Account != "" {
				return fmt.Errorf("%w: source %q of account %q", errBadData, str, k.acct)
			}
			t.srcs[i] = sub.Prefix.Addr().As16()
		}
	}
	sh.Put(h, t)
	return nil
}

func addSource(srcs [4]netip.Prefix, s netip.Prefix) [4]netip.Prefix {
	if !s.IsValid() {
		return srcs
	}
	for i := range srcs {
		if srcs[i] == s {
			return srcs
		}
		if !srcs[i].IsValid() {
			srcs[i] = s
			return srcs
		}
	}
	return srcs
}
