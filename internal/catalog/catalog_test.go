package catalog

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestMerge(t *testing.T) {
	builtin := map[string]map[string]string{
		"en": {"a": "A", "b": "B"},
		"de": {"a": "Ä", "b": "Ö"},
	}
	got := Merge(builtin, map[string]map[string]string{
		"fr": {"a": "À"},
		"de": {"b": "Ü"},
	})
	assert.Equal(t, map[string]string{"a": "À", "b": "B"}, got["fr"], "a new language on English")
	assert.Equal(t, map[string]string{"a": "Ä", "b": "Ü"}, got["de"], "a replaced one on itself")
	assert.Equal(t, map[string]string{"a": "Ä", "b": "Ö"}, builtin["de"], "the built-in ones untouched")
	assert.Equal(t, "Ü", Format(got["de"], got["en"], "b"))
	assert.Equal(t, "B", Format(map[string]string{}, got["en"], "b"), "English for a missing key")
}
