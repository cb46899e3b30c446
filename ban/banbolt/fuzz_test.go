package banbolt

import "testing"

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
