package registrar_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/internal/registrar"
)

func TestParseUsers(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		users   map[string]string
		deleted []string
		err     string // substring of the error; empty: no error
	}{
		{name: "empty", in: "", users: map[string]string{}},
		{name: "comments and blanks", in: "# header\n\n  \n# alice:x\n", users: map[string]string{}},
		{name: "one user", in: "alice:secret\n", users: map[string]string{"alice": "secret"}},
		{name: "no final newline", in: "alice:secret", users: map[string]string{"alice": "secret"}},
		{name: "password keeps colons and hashes", in: "a:b:c#d\n", users: map[string]string{"a": "b:c#d"}},
		{name: "surrounding space trimmed", in: "  alice:secret  \r\n", users: map[string]string{"alice": "secret"}},
		{name: "deleted", in: "alice:s\n!old\n", users: map[string]string{"alice": "s"}, deleted: []string{"old"}},
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
			var deleted []string
			for name := range got.Deleted {
				deleted = append(deleted, name)
			}
			assert.ElementsMatch(t, tt.deleted, deleted)
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
		{"duplicate.txt", 0, 0, "line 2"},
		{"deleted-active.txt", 0, 0, "line 2"},
		{"missing-colon.txt", 0, 0, "line 1"},
		{"empty-name.txt", 0, 0, "line 1"},
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
		Users:   map[string]string{"bob": "b", "alice": "a:1"},
		Deleted: map[string]bool{"old": true, "gone": true, "kept": false},
	}
	var b bytes.Buffer
	n, err := a.WriteTo(&b)
	require.NoError(t, err)
	assert.Equal(t, int64(b.Len()), n)
	assert.Equal(t, "alice:a:1\nbob:b\n!gone\n!old\n", b.String())

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
	if name == "" || strings.ContainsAny(name, ":@") || strings.IndexFunc(name, unicode.IsSpace) >= 0 {
		t.Fatalf("bad account name %q", name)
	}
}
