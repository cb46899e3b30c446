package watch

import (
	"hash/maphash"
	"net/netip"
	"time"
)

// nonceWays is how many nonces share a set: a lookup reads one set.
const nonceWays = 8

// nonceSkew is how much earlier than the challenge that sent its nonce a
// request may be captured and still be proven, for captures that interleave
// two interfaces slightly out of order (sipauth allows the same skew).
const nonceSkew = time.Second

// nonces remembers which nonce the server sent to which client IP, and
// when, in a fixed table of sets: a nonce is hashed with the Pairer's seed
// and kept, with the IP it was sent to, in the set its hash selects; a full
// set forgets its oldest entry. It holds no pointers and allocates nothing
// after newNonces.
//
// It fails closed: a nonce it forgot, or one the server sent to two IPs
// within the window, proves nothing. Servers whose nonces depend on the time
// alone (one nonce for every client challenged in the same second) would
// otherwise let a forger learn its victim's nonce by being challenged at
// the same time.
type nonces struct {
	sets   []nonceSet
	window int64 // nanoseconds
}

// nonceSet holds the entries whose hash selects it.
type nonceSet [nonceWays]nonceEntry

type nonceEntry struct {
	key    uint64   // hash of the nonce; 0 marks a free entry
	t      int64    // when the server last sent it, Unix nanoseconds
	ip     [16]byte // where it went (IPv4 as ::ffff:a.b.c.d)
	shared bool     // sent to another IP too, within the window
}

// newNonces returns a table for at least max entries (rounded up to a
// multiple of nonceWays) that proves requests within window of a challenge.
func newNonces(max int, window time.Duration) nonces {
	return nonces{sets: make([]nonceSet, (max+nonceWays-1)/nonceWays), window: int64(window)}
}

// nonceKey hashes a nonce as sent.
func nonceKey(seed maphash.Seed, nonce []byte) uint64 {
	if k := maphash.Bytes(seed, nonce); k != 0 {
		return k
	}
	return 1
}

func (n *nonces) set(key uint64) *nonceSet {
	// The high half of the key, scaled to the number of sets.
	return &n.sets[(key>>32)*uint64(len(n.sets))>>32]
}

// issue records that the server sent the nonce of key to client at t. It
// reports whether it had to forget another nonce still within the window.
func (n *nonces) issue(key uint64, client netip.Addr, t time.Time) (evicted bool) {
	now, ip := t.UnixNano(), client.Unmap().As16()
	s := n.set(key)
	oldest := 0
	for i := range s {
		e := &s[i]
		if e.key == key {
			if now-e.t > n.window {
				// Long ago: a new issue, whoever got it then.
				*e = nonceEntry{key: key, t: now, ip: ip}
				return false
			}
			e.shared = e.shared || e.ip != ip
			e.t = max(e.t, now)
			return false
		}
		if e.key == 0 {
			*e = nonceEntry{key: key, t: now, ip: ip}
			return false
		}
		if e.t < s[oldest].t {
			oldest = i
		}
	}
	e := &s[oldest]
	evicted = now-e.t <= n.window
	*e = nonceEntry{key: key, t: now, ip: ip}
	return evicted
}

// issued reports whether the nonce of key was sent to client, and to no
// other IP, within the window before t (or at most nonceSkew after it).
func (n *nonces) issued(key uint64, client netip.Addr, t time.Time) bool {
	now := t.UnixNano()
	s := n.set(key)
	for i := range s {
		if e := &s[i]; e.key == key {
			age := now - e.t
			return !e.shared && e.ip == client.Unmap().As16() && -int64(nonceSkew) <= age && age <= n.window
		}
	}
	return false
}
