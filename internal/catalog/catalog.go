// Package catalog keeps message catalogues by language: fmt formats by
// key, each language built on English ("en") key by key. It serves both
// the Guard's explanations and banhttp's pages.
package catalog

import "maps"

// Merge returns builtin with extra's languages added: each on the language
// of that tag it replaces, or on English, key by key.
func Merge[M ~map[string]string](builtin, extra map[string]M) map[string]M {
	out := maps.Clone(builtin)
	for lang, m := range extra {
		base := maps.Clone(builtin["en"])
		if old, ok := out[lang]; ok {
			base = maps.Clone(old)
		}
		maps.Copy(base, m)
		out[lang] = base
	}
	return out
}

// Format returns key's format in m, or in en when m lacks it.
func Format[M ~map[string]string](m, en M, key string) string {
	if f, ok := m[key]; ok {
		return f
	}
	return en[key]
}
