package ban

import (
	"hash/maphash"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sipban/sipban/detect"
	"github.com/sipban/sipban/internal/shardmap"
)

// A Guard with a Store keeps the failures with proof it observes, and the
// moments the detectors forget theirs, so that Restore can replay them to
// the detectors that count in their process (detect.Replayer): a restart
// then gives no guesser its count back. Failures without proof are not
// kept, even under Limits.TrustUnproven: forged sources, each with a
// budget of its own, could fill the disk with them.

// keepPer failures of one source (address, or IPv6 prefix) are kept per
// keepEvery. A guesser the detectors never ban, such as one behind an
// address whose known devices keep it guarded, could otherwise fill the
// disk; past its budget a restart gives it back what was not kept, as
// before failures were kept at all. No threshold of the default limits
// needs more than 10 in a window, nor 5 in ten minutes.
const (
	keepPer   = 16
	keepEvery = int64(10 * time.Minute / time.Second)
)

// keeping is the budget of failures kept, per source.
type keeping struct {
	seed   maphash.Seed
	m      *shardmap.Map[budget]
	unkept atomic.Int64
}

// budget counts a source's failures kept since start (Unix seconds).
type budget struct {
	start int64
	n     int64
}

func newKeeping(capacity int) *keeping {
	return &keeping{seed: maphash.MakeSeed(), m: shardmap.New(capacity, func(b budget) int64 { return b.start })}
}

// take reports whether one more failure of where may be kept at now (Unix
// seconds), and counts it.
func (k *keeping) take(where netip.Addr, now int64) bool {
	h := addrHash(k.seed, where)
	sh := k.m.Shard(h)
	sh.Lock()
	defer sh.Unlock()
	b, _ := sh.Get(h)
	if now-b.start >= keepEvery || now < b.start {
		b = budget{start: now}
	}
	if b.n >= keepPer {
		k.unkept.Add(1)
		return false
	}
	b.n++
	sh.Put(h, b)
	return true
}

// storeFailure queues ev, a failure with proof, for the Store, within its
// source's budget. Its strings may alias a packet buffer: they are copied,
// clipped.
func (g *Guard) storeFailure(where netip.Addr, ev *detect.Event) {
	if !g.keeping.take(where, ev.Time.Unix()) {
		return
	}
	g.counts.add(Change{Op: OpFailure, Failure: Failure{
		At: ev.Time, Source: ev.Source, Transport: clipClone(ev.Transport, 16), Method: clipClone(ev.Method, 32),
		Status: ev.Status, Account: clipClone(ev.Account, maxFailed), Credentials: ev.Credentials,
		Unknown: ev.UnknownAccount, Guarded: ev.Guarded, Target: clipClone(ev.Target, maxFailed),
		UserAgent: clipClone(ev.UserAgent, maxAgent), Malformed: clipClone(ev.Malformed, maxFailed),
	}}, ref{}, ev.Time)
}

// maxFailed bounds a stored failure's account and target: longer than a
// record's sample, as the detectors count by the whole name.
const maxFailed = 256

func clipClone(s string, n int) string { return strings.Clone(clip(s, n)) }

// storeForget queues the moment the detectors forgot sub, for the Store.
func (g *Guard) storeForget(sub detect.Subject, lifted bool) {
	if g.counts != nil {
		now := g.now()
		g.counts.add(Change{Op: OpFailure, Failure: Failure{At: now, Forget: sub, Lifted: lifted}}, ref{}, now)
	}
}

// replayFailures gives the Replayers the failures a Store kept, in the
// order they were written, forgetting where they forgot.
func (g *Guard) replayFailures(fs []Failure) {
	for i := range fs {
		f := &fs[i]
		if f.Forget.IsValid() {
			for _, r := range g.replay {
				r.Forget(f.Forget, f.Lifted)
			}
			continue
		}
		ev := detect.Event{Time: f.At, Source: f.Source, Transport: f.Transport, Method: f.Method, Status: f.Status,
			Account: f.Account, Credentials: f.Credentials, Proven: true, UnknownAccount: f.Unknown, Guarded: f.Guarded,
			Target: f.Target, UserAgent: f.UserAgent, Malformed: f.Malformed}
		for _, r := range g.replay {
			r.Replay(&ev)
		}
	}
}

// countsFor is how long a failure may still count: the longest window of
// the standard detector's limits.
func (g *Guard) countsFor() time.Duration {
	l := detect.DefaultLimits()
	if g.standard != nil {
		l = g.standard.Limits()
	}
	return max(l.BadCredentials.Window, l.AccountFailures.Window, l.SlowCredentials.Window,
		l.AccountCredentials.Window, l.AccountSlow.Window, l.StaleAccount.Window, l.Enumeration.Window,
		l.CallRate.Window, l.Signalling.Window)
}
