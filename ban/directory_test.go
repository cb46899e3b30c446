package ban_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/sipban/sipban/ban"
)

func TestClosest(t *testing.T) {
	names := []string{"alice", "bob", "carol", "1001", "1002", "müller"}
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"alcie", "alice", true},  // a swap of neighbours
		{"alice2", "alice", true}, // an insertion
		{"alie", "alice", true},   // a deletion
		{"bbo", "bob", true},
		{"1010", "1001", true}, // a swap: one edit; 1002 is two away
		{"mueller", "müller", true},
		{"zzzzz", "", false},
		{"alice", "", false}, // itself is no typo
		{"xlcie", "alice", true},
		{"xlcix", "", false}, // three edits
		{"", "", false},
	} {
		got, ok := ban.Closest(c.in, slices.Values(names))
		assert.Equal(t, c.ok, ok, c.in)
		assert.Equal(t, c.want, got, c.in)
	}
}
