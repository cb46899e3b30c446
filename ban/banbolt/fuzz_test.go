package banbolt

import (
	"net/netip"
	"testing"
	"time"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/detect"
)

// FuzzDecodeRecord: any bytes decode to a record or an error, never a
// panic; a record that decodes encodes to bytes that decode to it again
// (compared as bytes: NaN is not equal to itself), and its key is the key
// it came from (values may hold non-minimal varints, keys have none).
func FuzzDecodeRecord(f *testing.F) {
	for _, k := range []int{0, 7, 1 << 20} {
		r := realistic(k)
		f.Add(appendSubject(nil, r.Subject), encodeRecord(&r))
	}
	f.Fuzz(func(t *testing.T, key, val []byte) {
		r, err := decodeRecord(string(key), string(val))
		if err != nil {
			return
		}
		k2, v2 := appendSubject(nil, r.Subject), encodeRecord(&r)
		r2, err := decodeRecord(string(k2), string(v2))
		if err != nil {
			t.Fatalf("a decoded record does not decode again: %v", err)
		}
		if v3 := encodeRecord(&r2); string(v3) != string(v2) {
			t.Fatalf("round trip changed the record:\n%+v\n%+v", r, r2)
		}
		if string(k2) != string(key) {
			t.Errorf("key %x encodes back as %x", key, k2)
		}
	})
}

// FuzzDecodeFailure: any bytes decode to a failure or an error, never a
// panic, and a failure that decodes encodes to bytes that decode to it
// again.
func FuzzDecodeFailure(f *testing.F) {
	seeds := []ban.Failure{
		{At: time.Date(2026, 11, 1, 12, 0, 0, 5, time.UTC), Source: netip.MustParseAddrPort("203.0.113.7:5060"),
			Transport: "udp", Method: "REGISTER", Status: 403, Account: "alice", Credentials: true, UserAgent: "Yealink"},
		{At: time.Unix(0, 0), Source: netip.MustParseAddrPort("[2001:db8::7%eth0]:65535"), Unknown: true, Guarded: true,
			Target: "+4930", Malformed: "no Via"},
		{Forget: detect.Subject{Prefix: netip.MustParsePrefix("2001:db8::/64"), Account: "bob"}, Lifted: true},
	}
	for _, s := range seeds {
		v, err := encodeFailure(&s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add([]byte("\x00\x00\x00\x00\x00\x00\x00\x01"), v)
	}
	f.Fuzz(func(t *testing.T, key, val []byte) {
		fl, err := decodeFailure(string(key), string(val))
		if err != nil {
			return
		}
		v2, err := encodeFailure(&fl)
		if err != nil {
			t.Fatalf("a decoded failure does not encode: %v", err)
		}
		fl2, err := decodeFailure(string(key), string(v2))
		if err != nil {
			t.Fatalf("a decoded failure does not decode again: %v", err)
		}
		if v3, _ := encodeFailure(&fl2); string(v3) != string(v2) {
			t.Fatalf("round trip changed the failure:\n%+v\n%+v", fl, fl2)
		}
	})
}

// FuzzDecodeDevice: any key and value decode to a known device or an
// error, never a panic, and a device that decodes encodes to a key and
// value that decode to it again (a file's varints may be non-minimal).
func FuzzDecodeDevice(f *testing.F) {
	for _, d := range []ban.KnownDevice{
		{Where: netip.MustParseAddr("203.0.113.7"), Account: "alice", UserAgent: "Yealink", Last: time.Unix(1, 2), Port: 5060,
			Instance: "<urn:uuid:00000000-0000-0000-0000-000000000001>", Contact: "<sip:alice@192.168.1.20:5060>"},
		{Where: netip.MustParseAddr("2001:db8:1:2::"), Last: time.Unix(0, 0)},
	} {
		f.Add(deviceKey(&d), encodeDevice(&d))
		f.Add(deviceKey(&d), appendTime(nil, d.Last))                                                          // as files before ports were kept
		f.Add(deviceKey(&d), appendString(appendUvarint(appendTime(nil, d.Last), uint64(d.Port)), d.Instance)) // before contacts
	}
	f.Fuzz(func(t *testing.T, key, val []byte) {
		d, err := decodeDevice(string(key), string(val))
		if err != nil {
			return
		}
		k2, v2 := deviceKey(&d), encodeDevice(&d)
		d2, err := decodeDevice(string(k2), string(v2))
		if err != nil {
			t.Fatalf("a decoded device does not decode again: %v", err)
		}
		if k3, v3 := deviceKey(&d2), encodeDevice(&d2); string(k3) != string(k2) || string(v3) != string(v2) {
			t.Fatalf("round trip changed the device:\n%+v\n%+v", d, d2)
		}
	})
}
