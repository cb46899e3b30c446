package registrar_test

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/internal/registrar"
)

func TestParseUsers(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		users     map[string]string
		deleted   []string
		deletedAt map[string]time.Time
		test      []string
		err       string // substring of the error; empty: no error
	}{
		{name: "empty", in: "", users: map[string]string{}},
		{name: "comments and blanks", in: "# header\n\n  \n# alice:x\n", users: map[string]string{}},
		{name: "one user", in: "alice:secret\n", users: map[string]string{"alice": "secret"}},
		{name: "no final newline", in: "alice:secret", users: map[string]string{"alice": "secret"}},
		{name: "password keeps colons and hashes", in: "a:b:c#d\n", users: map[string]string{"a": "b:c#d"}},
		{name: "surrounding space trimmed", in: "  alice:secret  \r\n", users: map[string]string{"alice": "secret"}},
		{name: "deleted", in: "alice:s\n!old\n", users: map[string]string{"alice": "s"}, deleted: []string{"old"}},
		{name: "test account", in: "~qa:pw #1 x\n", users: map[string]string{"qa": "pw #1 x"}, test: []string{"qa"}},
		{name: "deleted test account", in: "!~qa\n", users: map[string]string{}, deleted: []string{"qa"}, test: []string{"qa"}},
		{name: "deleted on a day", in: "!old 2026-11-20\n", users: map[string]string{}, deleted: []string{"old"},
			deletedAt: map[string]time.Time{"old": time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)}},
		{name: "deleted at a time", in: "!old 2026-11-20T10:00:00Z\n", users: map[string]string{}, deleted: []string{"old"},
			deletedAt: map[string]time.Time{"old": time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)}},
		{name: "time with an offset, kept in UTC", in: "!old\t 2026-11-20T12:00:00.5+02:00\n", users: map[string]string{}, deleted: []string{"old"},
			deletedAt: map[string]time.Time{"old": time.Date(2026, 11, 20, 10, 0, 0, 5e8, time.UTC)}},
		{name: "deleted test account on a day", in: "!~qa 2026-01-02\n", users: map[string]string{}, deleted: []string{"qa"}, test: []string{"qa"},
			deletedAt: map[string]time.Time{"qa": time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)}},
		{name: "bang in a deleted name", in: "!!bang 2026-01-02\n", users: map[string]string{}, deleted: []string{"!bang"},
			deletedAt: map[string]time.Time{"!bang": time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)}},
		{name: "bad day", in: "a:b\n!old 2026-13-01\n", err: `line 2: deleted account "old": date "2026-13-01": want a day (2026-11-20) or an RFC 3339 time`},
		{name: "year before 1 in UTC", in: "!old 0000-01-01T00:00:00+00:10\n", err: `line 1: deleted account "old": date "0000-01-01T00:00:00+00:10": want a day`},
		{name: "not a date", in: "!old yesterday\n", err: `line 1: deleted account "old": date "yesterday"`},
		{name: "date and more", in: "!old 2026-11-20 10:00\n", err: `line 1: deleted account "old": date "2026-11-20 10:00"`},
		{name: "time without zone", in: "!old 2026-11-20T10:00:00\n", err: `line 1: deleted account "old": date "2026-11-20T10:00:00"`},
		{name: "name starting with the test mark", in: "~~qa:pw\n", err: `line 1: account name "~qa": a name may not start with '~'`},
		{name: "test mark alone", in: "~:pw\n", err: "line 1: empty account name"},
		{name: "deleted test mark alone", in: "!~ 2026-11-20\n", err: "line 1: empty account name"},
		{name: "test and plain", in: "~qa:a\nqa:b\n", err: `line 2: account "qa" listed twice`},
		{name: "deleted test and active", in: "!~qa\n~qa:x\n", err: `line 2: account "qa" listed twice`},
		{name: "missing colon", in: "# c\nalice\n", err: "line 2: missing ':'"},
		{name: "empty name", in: ":secret\n", err: "line 1: empty account name"},
		{name: "empty deleted name", in: "!\n", err: "line 1: empty account name"},
		{name: "empty password", in: "alice:\n", err: "line 1: account \"alice\" has an empty password"},
		{name: "space in name", in: "al ice:secret\n", err: "line 1: account name \"al ice\": character ' ' not allowed"},
		{name: "at in name", in: "alice@example.com:secret\n", err: "line 1:"},
		{name: "colon in deleted name", in: "!a:b\n", err: "line 1:"},
		{name: "duplicate", in: "alice:a\nbob:b\nalice:c\n", err: "line 3: account \"alice\" listed twice"},
		{name: "deleted and active", in: "!alice\nalice:a\n", err: "line 2: account \"alice\" listed twice"},
		{name: "deleted twice", in: "!alice\n!alice\n", err: "line 2:"},
		{name: "invalid UTF-8 name", in: "a\xffb:secret\n", err: "line 1:"},
		{name: "line too long", in: "a:" + strings.Repeat("x", 70_000) + "\n", err: "registrar: users:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := registrar.ParseUsers(strings.NewReader(tt.in))
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				assert.True(t, strings.HasPrefix(err.Error(), "registrar: "), "error %q", err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.users, got.Users)
			assert.ElementsMatch(t, tt.deleted, slices.Collect(maps.Keys(got.Deleted)))
			assert.ElementsMatch(t, tt.test, slices.Collect(maps.Keys(got.Test)))
			if tt.deletedAt == nil {
				tt.deletedAt = map[string]time.Time{}
			}
			assert.Equal(t, tt.deletedAt, got.DeletedAt)
		})
	}
}

func TestParseUsersFiles(t *testing.T) {
	tests := []struct {
		file    string
		users   int
		deleted int
		err     string
	}{
		{"demo.txt", 3, 1, ""},
		{"tricky.txt", 4, 1, ""},
		{"crlf.txt", 1, 1, ""},
		{"test-accounts.txt", 2, 4, ""},
		{"duplicate.txt", 0, 0, "line 2"},
		{"deleted-active.txt", 0, 0, "line 2"},
		{"missing-colon.txt", 0, 0, "line 1"},
		{"empty-name.txt", 0, 0, "line 1"},
		{"bad-date.txt", 0, 0, `line 2: deleted account "bob": date "20-11-2026"`},
		{"tilde-name.txt", 0, 0, "line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", "users", tt.file))
			require.NoError(t, err)
			defer f.Close()
			a, err := registrar.ParseUsers(f)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Len(t, a.Users, tt.users)
			assert.Len(t, a.Deleted, tt.deleted)
		})
	}
}

func TestAccountsWriteTo(t *testing.T) {
	a := registrar.Accounts{
		Users:   map[string]string{"bob": "b", "alice": "a:1", "qa": "q q"},
		Deleted: map[string]bool{"old": true, "gone": true, "kept": false, "qa-old": true, "then": true},
		DeletedAt: map[string]time.Time{
			"gone":   time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC),
			"qa-old": time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC),
			"then":   time.Date(2026, 11, 20, 2, 0, 0, 0, time.FixedZone("", 2*3600)),
		},
		Test: map[string]bool{"qa": true, "qa-old": true},
	}
	var b bytes.Buffer
	n, err := a.WriteTo(&b)
	require.NoError(t, err)
	assert.Equal(t, int64(b.Len()), n)
	assert.Equal(t, "alice:a:1\nbob:b\n~qa:q q\n!gone 2026-11-20\n!old\n!~qa-old 2026-11-20T10:00:00Z\n!then 2026-11-20\n", b.String())

	p, ok := a.Password("alice")
	assert.True(t, ok)
	assert.Equal(t, "a:1", p)
	_, ok = a.Password("old")
	assert.False(t, ok, "a deleted account has no password")
}

// FuzzParseUsers checks that whatever ParseUsers accepts is well formed and
// survives a round trip through WriteTo, and that its errors name a line.
func FuzzParseUsers(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "users", "*.txt"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("a:b\n!c\n#d\n\n")
	f.Add("!a 0000-01-01T00:00:00+00:10\n!b 9999-12-31T23:59:00-00:10\n")
	f.Add("~t:p w#\n!~u 2026-11-20\n!v 2026-11-20T10:00:00.25-03:30\n!w\t2026-02-30\n")
	f.Fuzz(func(t *testing.T, in string) {
		a, err := registrar.ParseUsers(strings.NewReader(in))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "registrar: users") {
				t.Fatalf("error without prefix: %v", err)
			}
			return
		}
		for name, pass := range a.Users {
			checkName(t, name)
			if pass == "" || strings.ContainsAny(pass, "\r\n") {
				t.Fatalf("account %q: bad password %q", name, pass)
			}
			if a.Deleted[name] {
				t.Fatalf("account %q both active and deleted", name)
			}
		}
		for name, del := range a.Deleted {
			checkName(t, name)
			if !del {
				t.Fatalf("deleted set holds %q as false", name)
			}
		}
		for name, at := range a.DeletedAt {
			if !a.Deleted[name] || at.IsZero() || at.Location() != time.UTC {
				t.Fatalf("deletion time %v of %q, deleted %v", at, name, a.Deleted[name])
			}
		}
		for name, test := range a.Test {
			if _, active := a.Users[name]; !test || !active && !a.Deleted[name] {
				t.Fatalf("test mark of %q: %v, for no account", name, test)
			}
		}
		var b bytes.Buffer
		if _, err := a.WriteTo(&b); err != nil {
			t.Fatal(err)
		}
		again, err := registrar.ParseUsers(&b)
		if err != nil {
			t.Fatalf("round trip of %q: %v", b.String(), err)
		}
		assert.Equal(t, a, again)
	})
}

func checkName(t *testing.T, name string) {
	t.Helper()
	if name == "" || name[0] == '~' || strings.ContainsAny(name, ":@") || strings.IndexFunc(name, unicode.IsSpace) >= 0 {
		t.Fatalf("bad account name %q", name)
	}
}
