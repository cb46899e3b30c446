package banbolt

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/detect"
)

// The encoding of format version 1: varints (zig-zag for signed values),
// strings and byte strings prefixed by their length as a uvarint, times as
// Unix seconds (varint) and nanoseconds (uvarint), in UTC when read.

const (
	kindAnywhere = 0
	kindIPv4     = 4
	kindIPv6     = 6
)

// appendSubject writes s's key: its kind, address and bits, then its
// account, raw to the end. Unlike detect.Subject.String it keeps an
// unmasked prefix and an IPv4-mapped address as they are.
func appendSubject(b []byte, s detect.Subject) []byte {
	switch a := s.Prefix.Addr(); {
	case !s.Prefix.IsValid():
		b = append(b, kindAnywhere)
	case a.Is4():
		a4 := a.As4()
		b = append(append(b, kindIPv4), a4[:]...)
		b = append(b, byte(s.Prefix.Bits()))
	default:
		a16 := a.As16()
		b = append(append(b, kindIPv6), a16[:]...)
		b = append(b, byte(s.Prefix.Bits()))
	}
	return append(b, s.Account...)
}

func subjectKey(s detect.Subject) ([]byte, error) {
	if !s.IsValid() {
		return nil, fmt.Errorf("invalid subject %v", s)
	}
	return appendSubject(nil, s), nil
}

func appendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }
func appendVarint(b []byte, v int64) []byte   { return binary.AppendVarint(b, v) }

func appendString(b []byte, s string) []byte {
	return append(appendUvarint(b, uint64(len(s))), s...)
}

func appendTime(b []byte, t time.Time) []byte {
	return appendUvarint(appendVarint(b, t.Unix()), uint64(t.Nanosecond()))
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendAddr(b []byte, a netip.Addr) []byte {
	b = appendUvarint(b, uint64(addrLen(a)))
	b, _ = a.AppendBinary(b) // never fails
	return b
}

func addrLen(a netip.Addr) int {
	switch {
	case !a.IsValid():
		return 0
	case a.Is4():
		return 4
	}
	return 16 + len(a.Zone())
}

func appendStrings(b []byte, ss []string) []byte {
	b = appendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = appendString(b, s)
	}
	return b
}

const (
	flagProven = 1 << iota
	flagDevice
	flagOthersOK
	flagKnownDevice
)

func flags(bits ...bool) byte {
	var f byte
	for i, v := range bits {
		if v {
			f |= 1 << i
		}
	}
	return f
}

// encodeRecord writes r without its subject, which is its key.
func encodeRecord(r *ban.StoredRecord) []byte {
	b := make([]byte, 0, 160)
	b = appendTime(b, r.Since)
	b = appendTime(b, r.Until)
	b = appendString(b, r.Scope)
	b = append(b, byte(r.Cause))
	b = appendVarint(b, int64(r.Level))
	b = append(b, flags(r.Proven, r.Device, r.OthersOK, r.KnownDevice))
	e := &r.Evidence
	b = appendVarint(b, int64(e.Count))
	b = appendTime(b, e.First)
	b = appendTime(b, e.Last)
	b = appendStrings(b, e.Accounts)
	b = appendVarint(b, int64(e.DistinctAccounts))
	b = appendUvarint(b, uint64(len(e.Addresses)))
	for _, a := range e.Addresses {
		b = appendAddr(b, a)
	}
	b = appendStrings(b, e.UserAgents)
	b = appendUvarint(b, uint64(len(e.Ports)))
	for _, p := range e.Ports {
		b = appendUvarint(b, uint64(p))
	}
	b = appendUvarint(b, uint64(len(e.Statuses)))
	for _, s := range e.Statuses {
		b = appendVarint(b, int64(s))
	}
	b = appendVarint(b, int64(e.Interval))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(e.Unanswered))
	return appendString(b, e.Detail)
}

// The values aged by OpAge start with the time it compares.

func encodeOffence(o *ban.Offence) []byte {
	b := appendTime(make([]byte, 0, 16), o.End)
	b = appendVarint(b, int64(o.Level))
	return appendBool(b, o.Proven)
}

// deviceKey is Where, Account (both length-prefixed) and UserAgent, raw to the end.
func deviceKey(d *ban.KnownDevice) []byte {
	b := appendAddr(make([]byte, 0, 24+len(d.Account)+len(d.UserAgent)), d.Where)
	b = appendString(b, d.Account)
	return append(b, d.UserAgent...)
}

// encodeDevice is Last, then Port and Instance, then Contact, which older
// files lack.
func encodeDevice(d *ban.KnownDevice) []byte {
	b := appendTime(make([]byte, 0, 20+len(d.Instance)+len(d.Contact)), d.Last)
	b = appendUvarint(b, uint64(d.Port))
	b = appendString(b, d.Instance)
	return appendString(b, d.Contact)
}

const (
	flagCredentials = 1 << iota
	flagUnknown
	flagGuarded
	flagLifted
)

// encodeFailure writes f; its key is a sequence. A Forget subject is its
// key, length-prefixed, empty for none.
func encodeFailure(f *ban.Failure) ([]byte, error) {
	var forget []byte
	if f.Forget != (detect.Subject{}) {
		var err error
		if forget, err = subjectKey(f.Forget); err != nil {
			return nil, err
		}
	}
	b := appendTime(make([]byte, 0, 64+len(f.Account)+len(f.UserAgent)), f.At)
	b = appendAddr(b, f.Source.Addr())
	b = appendUvarint(b, uint64(f.Source.Port()))
	b = appendString(b, f.Transport)
	b = appendString(b, f.Method)
	b = appendVarint(b, int64(f.Status))
	b = appendString(b, f.Account)
	b = append(b, flags(f.Credentials, f.Unknown, f.Guarded, f.Lifted))
	b = appendString(b, f.Target)
	b = appendString(b, f.UserAgent)
	b = appendString(b, f.Malformed)
	return appendString(b, string(forget)), nil
}

// liftKey is the subject's key (length-prefixed) and Note.At as an
// instant, so that two lifts at one instant are one whatever their zones.
func liftKey(l *ban.StoredLift) ([]byte, error) {
	sk, err := subjectKey(l.Subject)
	if err != nil {
		return nil, err
	}
	b := appendString(make([]byte, 0, len(sk)+16), string(sk))
	return appendTime(b, l.Note.At), nil
}

func encodeLift(l *ban.StoredLift) []byte {
	n := &l.Note
	b := appendTime(make([]byte, 0, 64), n.At)
	b = appendString(b, n.By)
	b = appendBool(b, n.Operator)
	b = appendString(b, n.Fixed)
	b = appendString(b, n.Cause)
	p := l.Probation
	if p == nil {
		return append(b, 0)
	}
	b = append(b, 1)
	b = appendTime(b, p.Until)
	b = append(b, byte(p.Cause), flags(p.Device, p.OthersOK, p.Guard))
	return appendString(b, p.Fixed)
}

// Keys as stored start with a byte saying how: keyPlain, then the key; or,
// for keys longer than maxPlainKey (bbolt refuses keys over 32 KiB, and
// long keys make fat pages), keyHashed, then the key's SHA-256, the key
// itself leading the value.
const (
	keyPlain    = 0
	keyHashed   = 1
	maxPlainKey = 1024
)

func storedKey(key []byte) []byte {
	if len(key) <= maxPlainKey {
		return append([]byte{keyPlain}, key...)
	}
	h := sha256.Sum256(key)
	return append([]byte{keyHashed}, h[:]...)
}

func storedValue(key, val []byte) []byte {
	if len(key) <= maxPlainKey {
		return val
	}
	return append(appendString(make([]byte, 0, len(key)+len(val)+4), string(key)), val...)
}

// unstore returns the key and value that storedKey and storedValue stored.
func unstore(k, v []byte) (key, val string, err error) {
	if len(k) == 0 {
		return "", "", errors.New("empty key")
	}
	switch k[0] {
	case keyPlain:
		return string(k[1:]), string(v), nil
	case keyHashed:
		d := decoder{s: string(v)}
		key = d.string()
		if d.err == nil && sha256.Sum256([]byte(key)) != [32]byte(k[1:]) {
			d.fail(errors.New("long key does not match its hash"))
		}
		return key, d.s, d.err
	}
	return "", "", fmt.Errorf("key kind %d", k[0])
}

var errShort = errors.New("value ends early")

// decoder reads what the append functions wrote, from a string so that the
// strings it returns share one copy of the value. Its first error sticks.
type decoder struct {
	s   string
	err error
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.s = ""
}

func (d *decoder) byte() byte {
	if len(d.s) == 0 {
		d.fail(errShort)
		return 0
	}
	c := d.s[0]
	d.s = d.s[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	if len(d.s) > 0 && d.s[0] < 0x80 { // most values: lengths, small counts
		v := uint64(d.s[0])
		d.s = d.s[1:]
		return v
	}
	var v uint64
	for i := 0; i < binary.MaxVarintLen64; i++ {
		if i >= len(d.s) {
			d.fail(errShort)
			return 0
		}
		c := d.s[i]
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			d.s = d.s[i+1:]
			return v
		}
	}
	d.fail(errors.New("varint too long"))
	return 0
}

func (d *decoder) varint() int64 {
	u := d.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

func (d *decoder) int() int { return int(d.varint()) }

func (d *decoder) bool() bool { return d.byte() != 0 }

func (d *decoder) bytes(n uint64) string {
	if n > uint64(len(d.s)) {
		d.fail(errShort)
		return ""
	}
	v := d.s[:n]
	d.s = d.s[n:]
	return v
}

func (d *decoder) string() string { return d.bytes(d.uvarint()) }

// count reads a slice length, each element at least one byte long.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.s)) {
		d.fail(errShort)
		return 0
	}
	return int(n)
}

func (d *decoder) time() time.Time {
	sec := d.varint()
	nsec := d.uvarint()
	if nsec >= 1e9 {
		d.fail(fmt.Errorf("time with %d nanoseconds", nsec))
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

func (d *decoder) addr() netip.Addr {
	var a netip.Addr
	if b := d.string(); d.err == nil {
		if err := a.UnmarshalBinary([]byte(b)); err != nil {
			d.fail(err)
		}
	}
	return a
}

func (d *decoder) strings() []string {
	n := d.count()
	if n == 0 {
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = d.string()
	}
	return ss
}

// done reports the first error, or bytes left over.
func (d *decoder) done() error {
	if d.err == nil && len(d.s) > 0 {
		return fmt.Errorf("%d bytes left over", len(d.s))
	}
	return d.err
}

func decodeSubject(key string) (detect.Subject, error) {
	d := decoder{s: key}
	var s detect.Subject
	switch k := d.byte(); k {
	case kindAnywhere:
	case kindIPv4, kindIPv6:
		n := 4
		if k == kindIPv6 {
			n = 16
		}
		a, _ := netip.AddrFromSlice([]byte(d.bytes(uint64(n))))
		bits := int(d.byte())
		if d.err == nil {
			if s.Prefix = netip.PrefixFrom(a, bits); !s.Prefix.IsValid() {
				d.fail(fmt.Errorf("prefix of %d bits", bits))
			}
		}
	default:
		d.fail(fmt.Errorf("subject kind %d", k))
	}
	if d.err != nil {
		return detect.Subject{}, d.err
	}
	s.Account = d.s
	if !s.IsValid() {
		return detect.Subject{}, errors.New("account anywhere without an account")
	}
	return s, nil
}

func decodeRecord(key, val string) (ban.StoredRecord, error) {
	var r ban.StoredRecord
	var err error
	if r.Subject, err = decodeSubject(key); err != nil {
		return r, err
	}
	d := decoder{s: val}
	r.Since = d.time()
	r.Until = d.time()
	r.Scope = d.string()
	r.Cause = detect.Cause(d.byte())
	r.Level = d.int()
	f := d.byte()
	r.Proven, r.Device, r.OthersOK, r.KnownDevice = f&flagProven != 0, f&flagDevice != 0, f&flagOthersOK != 0, f&flagKnownDevice != 0
	e := &r.Evidence
	e.Count = d.int()
	e.First = d.time()
	e.Last = d.time()
	e.Accounts = d.strings()
	e.DistinctAccounts = d.int()
	if n := d.count(); n > 0 {
		e.Addresses = make([]netip.Addr, n)
		for i := range e.Addresses {
			e.Addresses[i] = d.addr()
		}
	}
	e.UserAgents = d.strings()
	if n := d.count(); n > 0 {
		e.Ports = make([]uint16, n)
		for i := range e.Ports {
			p := d.uvarint()
			if p > math.MaxUint16 {
				d.fail(fmt.Errorf("port %d", p))
			}
			e.Ports[i] = uint16(p)
		}
	}
	if n := d.count(); n > 0 {
		e.Statuses = make([]int, n)
		for i := range e.Statuses {
			e.Statuses[i] = d.int()
		}
	}
	e.Interval = time.Duration(d.varint())
	if u := d.bytes(8); d.err == nil {
		e.Unanswered = math.Float64frombits(binary.LittleEndian.Uint64([]byte(u)))
	}
	e.Detail = d.string()
	return r, d.done()
}

func decodeOffence(key, val string) (ban.Offence, error) {
	var o ban.Offence
	var err error
	if o.Subject, err = decodeSubject(key); err != nil {
		return o, err
	}
	d := decoder{s: val}
	o.End = d.time()
	o.Level = d.int()
	o.Proven = d.bool()
	return o, d.done()
}

func decodeDevice(key, val string) (ban.KnownDevice, error) {
	var dev ban.KnownDevice
	k := decoder{s: key}
	dev.Where = k.addr()
	dev.Account = k.string()
	if k.err != nil {
		return dev, k.err
	}
	dev.UserAgent = k.s
	d := decoder{s: val}
	dev.Last = d.time()
	if d.err == nil && d.s != "" {
		port := d.uvarint()
		if port > 0xffff {
			d.fail(fmt.Errorf("port %d", port))
		}
		dev.Port = uint16(port)
		dev.Instance = d.string()
		if d.err == nil && d.s != "" {
			dev.Contact = d.string()
		}
	}
	return dev, d.done()
}

func decodeLift(key, val string) (ban.StoredLift, error) {
	var l ban.StoredLift
	k := decoder{s: key}
	sk := k.string()
	if k.err != nil {
		return l, k.err
	}
	var err error
	if l.Subject, err = decodeSubject(sk); err != nil {
		return l, err
	}
	d := decoder{s: val}
	n := &l.Note
	n.At = d.time()
	n.By = d.string()
	n.Operator = d.bool()
	n.Fixed = d.string()
	n.Cause = d.string()
	if d.bool() {
		p := &ban.Probation{}
		p.Until = d.time()
		p.Cause = detect.Cause(d.byte())
		f := d.byte()
		p.Device, p.OthersOK, p.Guard = f&1 != 0, f&2 != 0, f&4 != 0
		p.Fixed = d.string()
		l.Probation = p
	}
	return l, d.done()
}

func decodeFailure(key, val string) (ban.Failure, error) {
	var f ban.Failure
	if len(key) != 8 {
		return f, fmt.Errorf("failure key of %d bytes", len(key))
	}
	d := decoder{s: val}
	f.At = d.time()
	a := d.addr()
	port := d.uvarint()
	if d.err == nil && port > math.MaxUint16 {
		d.fail(fmt.Errorf("port %d", port))
	}
	if a.IsValid() {
		f.Source = netip.AddrPortFrom(a, uint16(port))
	}
	f.Transport = d.string()
	f.Method = d.string()
	f.Status = d.int()
	f.Account = d.string()
	fl := d.byte()
	f.Credentials, f.Unknown, f.Guarded, f.Lifted = fl&flagCredentials != 0, fl&flagUnknown != 0, fl&flagGuarded != 0, fl&flagLifted != 0
	f.Target = d.string()
	f.UserAgent = d.string()
	f.Malformed = d.string()
	if sk := d.string(); d.err == nil && sk != "" {
		var err error
		if f.Forget, err = decodeSubject(sk); err != nil {
			return f, err
		}
	}
	return f, d.done()
}

// leadingTime reads the time an aged value starts with.
func leadingTime(k, v []byte) (time.Time, error) {
	_, val, err := unstore(k, v)
	if err != nil {
		return time.Time{}, err
	}
	d := decoder{s: val}
	t := d.time()
	return t, d.err
}
