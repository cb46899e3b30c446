package registrar_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/internal/registrar"
)

// parse reads a users file given as text.
func parse(t *testing.T, file string) registrar.Accounts {
	t.Helper()
	a, err := registrar.ParseUsers(strings.NewReader(file))
	require.NoError(t, err)
	return a
}

func TestDirectoryAccount(t *testing.T) {
	d := registrar.NewDirectory(parse(t, "alice:a\n~qa:q\nab:x\nac:x\n!old 2026-11-20\n!~qa-old\n!gone\n"))
	for name, want := range map[string]ban.AccountInfo{
		"alice":  {Exists: true},
		"qa":     {Exists: true, Test: true},
		"old":    {Deleted: true, DeletedAt: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)},
		"qa-old": {Deleted: true, Test: true},
		"gone":   {Deleted: true},
		"nobody": {},
	} {
		assert.Equal(t, want, d.Account(name), name)
	}
	for _, tt := range []struct {
		name, want string
		ok         bool
	}{
		{"alcie", "alice", true},   // a swap
		{"alicexy", "alice", true}, // two insertions
		{"xqa", "qa", true},        // test accounts too
		{"aa", "ab", true},         // ab and ac are as near: the first by name
		{"alice", "", false},
		{"old", "", false}, // deleted names are not offered
		{"xyzzy", "", false},
	} {
		got, ok := d.Similar(tt.name)
		assert.Equal(t, tt.ok, ok, tt.name)
		assert.Equal(t, tt.want, got, tt.name)
	}
}

// TestDirectoryReload loads a file, then three more versions of it, and
// checks what the directory says of every name after each.
func TestDirectoryReload(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	t1, t2, t3 := t0.Add(time.Hour), t0.Add(2*time.Hour), t0.Add(3*time.Hour)
	day := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	d := registrar.NewDirectory(parse(t, "alice:a\nbob:b\ncarol:c\ndave:d\n~qa:q\n!old\n"))
	second := "alice:a2\nbob:b\n!dave 2026-11-20\n!~qa\n!old\nerin:e\n"
	third := "alice:a2\nbob:b2\n!carol\n!dave\nold:o\n"
	steps := []struct {
		file    string
		now     time.Time
		changes registrar.Changes
		want    map[string]ban.AccountInfo
	}{
		{second, t1, registrar.Changes{Accounts: 3, Added: 1, Passwords: 1, Deleted: 3}, map[string]ban.AccountInfo{
			"alice": {Exists: true, PasswordChanged: t1},
			"bob":   {Exists: true},
			"carol": {Deleted: true, DeletedAt: t1},  // gone without a '!' line
			"dave":  {Deleted: true, DeletedAt: day}, // the file's date
			"qa":    {Deleted: true, DeletedAt: t1, Test: true},
			"old":   {Deleted: true}, // deleted before any load: when is unknown
			"erin":  {Exists: true},  // new: no password change
		}},
		{third, t2, registrar.Changes{Accounts: 3, Added: 1, Passwords: 1, Deleted: 1}, map[string]ban.AccountInfo{
			"alice": {Exists: true, PasswordChanged: t1},
			"bob":   {Exists: true, PasswordChanged: t2},
			"carol": {Deleted: true, DeletedAt: t1},             // a '!' line without a date keeps the time noted
			"dave":  {Deleted: true, DeletedAt: day},            // so does one that dropped its date
			"qa":    {Deleted: true, DeletedAt: t1, Test: true}, // gone from the file, still known
			"old":   {Exists: true, PasswordChanged: t2},        // back, with credentials issued anew
			"erin":  {Deleted: true, DeletedAt: t2},
		}},
		{third, t3, registrar.Changes{Accounts: 3}, nil}, // nothing changed: the same answers
	}
	for i, st := range steps {
		c := d.Reload(parse(t, st.file), st.now)
		assert.Equal(t, st.changes, c, "reload %d", i+1)
		if st.want == nil {
			st.want = steps[i-1].want
		}
		for name, want := range st.want {
			assert.Equal(t, want, d.Account(name), "reload %d: %s", i+1, name)
		}
	}
}
