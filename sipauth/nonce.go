package sipauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"hash"
	"net/netip"
	"time"
)

// A nonce is its issue time and a MAC of that time and the address it was
// issued to, in URL-safe base64 without padding: it can be checked without
// remembering it, so a flood of challenges costs no memory.
const (
	stampLen = 8  // issue time, Unix nanoseconds, big-endian
	macLen   = 16 // HMAC-SHA-256, truncated: forging takes 2^128 guesses
	nonceLen = stampLen + macLen
)

var nonceEncoding = base64.RawURLEncoding

// skew is how far in the future a nonce's issue time may be: servers that
// share a key may have clocks a little apart.
const skew = time.Second

// signer computes nonce MACs. The pool keeps one per goroutine in flight,
// so signing allocates nothing.
type signer struct {
	h   hash.Hash
	in  [stampLen + 1 + 16]byte // stamp, address bit length, address
	sum [sha256.Size]byte
}

func newSigner(key []byte) *signer { return &signer{h: hmac.New(sha256.New, key)} }

// mac returns the MAC of stamp and src, valid until s is used again.
// The address is unmapped (As16 drops the zone), so that one host has one
// address whichever socket it reached; its bit length tells IPv4 from IPv6
// and both from the zero Addr.
func (s *signer) mac(stamp []byte, src netip.Addr) []byte {
	src = src.Unmap()
	copy(s.in[:stampLen], stamp)
	s.in[stampLen] = byte(src.BitLen() / 8)
	a16 := src.As16()
	copy(s.in[stampLen+1:], a16[:])
	s.h.Reset()
	s.h.Write(s.in[:])
	return s.h.Sum(s.sum[:0])[:macLen]
}

// issue returns a nonce for src stamped with now.
func (a *Authenticator) issue(now time.Time, src netip.Addr) string {
	var b [nonceLen]byte
	binary.BigEndian.PutUint64(b[:stampLen], uint64(now.UnixNano()))
	s := a.signers.Get().(*signer)
	copy(b[stampLen:], s.mac(b[:stampLen], src))
	a.signers.Put(s)
	return nonceEncoding.EncodeToString(b[:])
}

// fresh reports whether nonce was issued by a to src within its lifetime
// before now. A nonce issued to the zero Addr is never fresh.
func (a *Authenticator) fresh(nonce string, src netip.Addr, now time.Time) bool {
	var b [nonceLen]byte
	if !src.IsValid() || len(nonce) != nonceEncoding.EncodedLen(nonceLen) {
		return false
	}
	if n, err := nonceEncoding.Decode(b[:], []byte(nonce)); err != nil || n != nonceLen {
		return false
	}
	s := a.signers.Get().(*signer)
	ok := hmac.Equal(b[stampLen:], s.mac(b[:stampLen], src))
	a.signers.Put(s)
	if !ok {
		return false
	}
	age := time.Duration(now.UnixNano() - int64(binary.BigEndian.Uint64(b[:stampLen])))
	return age >= -skew && age <= a.lifetime
}
