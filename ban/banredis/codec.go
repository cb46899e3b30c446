package banredis

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/sipban/sipban/ban"
)

// maxValue bounds a record or a message read from Redis: a record with the
// evidence a detector keeps is well under 4 KiB, so anything far larger is
// not ours and is skipped before it is parsed.
const maxValue = 64 << 10

// errBadData is wrapped by errors about what was read from Redis and
// skipped.
var errBadData = errors.New("banredis: bad data")

// message is what goes on the changes channel: one change and the edge
// that made it.
type message struct {
	Edge    string            `json:"edge"`
	Op      string            `json:"op"` // "record" or "end"
	Record  *ban.StoredRecord `json:"record,omitempty"`
	Offence *ban.Offence      `json:"offence,omitempty"`
}

const (
	opRecord = "record"
	opEnd    = "end"
)

// encodeMessage returns c's value in JSON (the record, or the lift's
// offence) and the message that carries it from the edge whose name is
// edgeJSON, in JSON: the value is encoded once for both.
func encodeMessage(edgeJSON string, c ban.Change) (value []byte, msg string, err error) {
	var op, field string
	switch c.Op {
	case ban.OpRecord:
		op, field = opRecord, "record"
		value, err = json.Marshal(&c.Record)
	case ban.OpEnd:
		op, field = opEnd, "offence"
		value, err = json.Marshal(&c.Offence)
	default:
		return nil, "", fmt.Errorf("banredis: op %v is not shared", c.Op)
	}
	if err != nil {
		return nil, "", fmt.Errorf("banredis: encode %v of %v: %w", c.Op, subjectOf(c), err)
	}
	return value, `{"edge":` + edgeJSON + `,"op":"` + op + `","` + field + `":` + string(value) + `}`, nil
}

// decodeMessage reads a message from the channel; it fails for anything
// that is not a valid change on a valid subject.
func decodeMessage(payload string) (edge string, c ban.Change, err error) {
	if len(payload) > maxValue {
		return "", c, fmt.Errorf("%w: message of %d bytes", errBadData, len(payload))
	}
	var m message
	if err := json.Unmarshal([]byte(payload), &m); err != nil {
		return "", c, fmt.Errorf("%w: message: %v", errBadData, err)
	}
	switch {
	case m.Op == opRecord && m.Record != nil && m.Record.Subject.IsValid():
		return m.Edge, ban.Change{Op: ban.OpRecord, Record: *m.Record}, nil
	case m.Op == opEnd && m.Offence != nil && m.Offence.Subject.IsValid():
		return m.Edge, ban.Change{Op: ban.OpEnd, Offence: *m.Offence}, nil
	}
	return "", c, fmt.Errorf("%w: message op %q without a valid subject", errBadData, m.Op)
}

// decodeRecord reads a record key's fields (see the package doc) and checks
// that the record is the one the key names.
func decodeRecord(key, subject, until, rec string) (ban.StoredRecord, error) {
	var r ban.StoredRecord
	if len(rec) > maxValue {
		return r, fmt.Errorf("%w: %s: record of %d bytes", errBadData, key, len(rec))
	}
	if err := json.Unmarshal([]byte(rec), &r); err != nil {
		return r, fmt.Errorf("%w: %s: %v", errBadData, key, err)
	}
	if !r.Subject.IsValid() || r.Subject.String() != subject {
		return r, fmt.Errorf("%w: %s holds a record on %v", errBadData, key, r.Subject)
	}
	if ms, err := strconv.ParseInt(until, 10, 64); err != nil || ms != r.Until.UnixMilli() {
		return r, fmt.Errorf("%w: %s: until %q is not the record's", errBadData, key, until)
	}
	return r, nil
}

func subjectOf(c ban.Change) string {
	if c.Op == ban.OpEnd {
		return c.Offence.Subject.String()
	}
	return c.Record.Subject.String()
}
