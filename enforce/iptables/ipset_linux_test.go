package iptables

import (
	"errors"
	"net/netip"
	"strings"
	"syscall"
	"testing"
)

// TestEntryRoundTrip: what elem encodes, parseEntry reads back, as the
// kernel echoes elements in a list.
func TestEntryRoundTrip(t *testing.T) {
	for _, e := range []entry{
		{netip.MustParsePrefix("192.0.2.0/24"), 3600},
		{netip.MustParsePrefix("192.0.2.7/32"), 1},
		{netip.MustParsePrefix("2001:db8:1:2::/64"), 2147483},
		{netip.MustParsePrefix("2001:db8::1/128"), 0},
	} {
		var m msg
		m.elem(e.p, e.timeout)
		if len(m) > elemSize {
			t.Errorf("%v: %d bytes, more than elemSize %d", e.p, len(m), elemSize)
		}
		var got []entry
		attrs(m, func(typ uint16, v []byte) {
			if typ != attrData {
				t.Errorf("attribute %d, want IPSET_ATTR_DATA", typ)
			}
			g, ok := parseEntry(v)
			if !ok {
				t.Errorf("%v: not parsed", e.p)
			}
			got = append(got, g)
		})
		if len(got) != 1 || got[0] != e {
			t.Errorf("round trip of %+v: %+v", e, got)
		}
	}
}

// TestAttrsTruncated: a malformed attribute ends the walk, without panic.
func TestAttrsTruncated(t *testing.T) {
	var m msg
	m.str(attrSetname, "sipban4")
	m.be32(attrLineno, 7)
	for n := range len(m) {
		attrs(m[:n], func(uint16, []byte) {})
	}
	var n int
	attrs(m, func(typ uint16, v []byte) {
		n++
		if typ == attrLineno && be32(v) != 7 {
			t.Errorf("lineno %d", be32(v))
		}
	})
	if n != 2 {
		t.Errorf("%d attributes, want 2", n)
	}
}

func TestKerr(t *testing.T) {
	err := kerr(syscall.Errno(4352))
	if !errors.Is(err, errHashFull) || !strings.Contains(err.Error(), "set is full") {
		t.Errorf("kerr(4352) = %v", err)
	}
	if err := kerr(syscall.ENOENT); err != syscall.ENOENT {
		t.Errorf("kerr(ENOENT) = %v, want it unchanged", err)
	}
}
