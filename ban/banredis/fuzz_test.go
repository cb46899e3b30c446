package banredis

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/detect"
)

// FuzzDecodeMessage: whatever is published, decodeMessage returns an error
// or a change on a valid subject that encodes back to a message decoding
// to the same change.
func FuzzDecodeMessage(f *testing.F) {
	now := time.Unix(1_800_000_000, 0).UTC()
	sub, _ := detect.ParseSubject("203.0.113.7")
	for _, c := range []ban.Change{
		{Op: ban.OpRecord, Record: ban.StoredRecord{Subject: sub, Scope: "address", Cause: detect.BadCredentials, Until: now}},
		{Op: ban.OpEnd, Offence: ban.Offence{Subject: detect.Subject{Account: "alice"}, Level: 2, End: now}},
	} {
		_, msg, err := encodeMessage(`"edge-1"`, c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(msg)
	}
	f.Add(`{"edge":"x","op":"record","record":{"subject":"invalid"}}`)
	f.Add(`{"op":"end","offence":{"subject":"bob@*","end":"2027-01-15T08:00:00Z"}}`)
	f.Fuzz(func(t *testing.T, payload string) {
		edge, c, err := decodeMessage(payload)
		if err != nil {
			return
		}
		if !subjectValid(c) {
			t.Fatalf("decoded %+v: invalid subject", c)
		}
		ej, _ := json.Marshal(edge)
		_, msg, err := encodeMessage(string(ej), c)
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", c, err)
		}
		edge2, c2, err := decodeMessage(msg)
		if err != nil || edge2 != edge {
			t.Fatalf("re-encoded %q: %q, %v", msg, edge2, err)
		}
		a, _ := json.Marshal(c)
		b, _ := json.Marshal(c2)
		if string(a) != string(b) {
			t.Fatalf("round trip changed the change:\n%s\n%s", a, b)
		}
	})
}

func subjectValid(c ban.Change) bool {
	if c.Op == ban.OpEnd {
		return c.Offence.Subject.IsValid()
	}
	return c.Record.Subject.IsValid()
}
