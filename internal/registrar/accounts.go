package registrar

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Accounts are the registrar's users. The zero Accounts has no users. A
// Server only reads its Accounts; do not change the maps once it has them.
type Accounts struct {
	// Users maps an account name to its password.
	Users map[string]string
	// Deleted holds names of accounts that existed once. The registrar answers
	// them as it answers names it never knew; the set documents which devices
	// may still be out there with old credentials.
	Deleted map[string]bool
	// DeletedAt holds when deleted accounts were deleted, for those the file
	// gives a time.
	DeletedAt map[string]time.Time
	// Test holds the names, active or deleted, of accounts kept for tests.
	Test map[string]bool
}

// Password returns the password of the active account name.
func (a Accounts) Password(name string) (string, bool) {
	p, ok := a.Users[name]
	return p, ok
}

// ParseUsers reads an accounts file, one account a line:
//
//	name:password            an active account
//	~name:password           an active test account
//	!name                    a deleted account
//	!name 2026-11-20         deleted on that day (UTC)
//	!name 2026-11-20T10:00:00Z  deleted at that RFC 3339 time
//	!~name [date]            a deleted test account
//	# comment
//
// Blank lines are ignored and lines are trimmed of surrounding white space.
// The password is everything after the first colon, so it may hold colons,
// '#' and spaces; that is why a test account is marked before its name, not
// after its password. Names may not start with '~'.
func ParseUsers(r io.Reader) (Accounts, error) {
	a := Accounts{
		Users:     make(map[string]string),
		Deleted:   make(map[string]bool),
		DeletedAt: make(map[string]time.Time),
		Test:      make(map[string]bool),
	}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if err := a.parseLine(line); err != nil {
			return Accounts{}, fmt.Errorf("registrar: users line %d: %w", n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return Accounts{}, fmt.Errorf("registrar: users: %w", err)
	}
	return a, nil
}

// parseLine adds the account of one trimmed, non-comment line.
func (a Accounts) parseLine(line string) error {
	rest, deleted := strings.CutPrefix(line, "!")
	rest, test := strings.CutPrefix(rest, "~")
	var name, pass, date string
	if deleted {
		// Names hold no white space, so the first splits off the date.
		name, date = rest, ""
		if i := strings.IndexFunc(rest, unicode.IsSpace); i >= 0 {
			name, date = rest[:i], strings.TrimSpace(rest[i:])
		}
	} else {
		var ok bool
		if name, pass, ok = strings.Cut(rest, ":"); !ok {
			return fmt.Errorf("missing ':' between name and password")
		}
	}
	if err := checkName(name); err != nil {
		return err
	}
	if _, ok := a.Users[name]; ok || a.Deleted[name] {
		return fmt.Errorf("account %q listed twice", name)
	}
	if test {
		a.Test[name] = true
	}
	if deleted {
		a.Deleted[name] = true
		if date == "" {
			return nil
		}
		t, err := parseDate(date)
		if err != nil {
			return fmt.Errorf("deleted account %q: %w", name, err)
		}
		a.DeletedAt[name] = t
		return nil
	}
	if pass == "" {
		return fmt.Errorf("account %q has an empty password", name)
	}
	if strings.IndexFunc(pass, unicode.IsControl) >= 0 {
		return fmt.Errorf("account %q: control character in password", name)
	}
	a.Users[name] = pass
	return nil
}

// parseDate reads a deletion time: a day, meaning its start in UTC, or an
// RFC 3339 time, kept in UTC so that it prints back the same.
func parseDate(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	// An offset can carry year 0000 into year -1, or 9999 into 10000, which
	// RFC 3339 cannot print back; no deletion was made then.
	if t, err := time.Parse(time.RFC3339, s); err == nil && t.UTC().Year() >= 1 && t.UTC().Year() <= 9999 {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("date %q: want a day (2026-11-20) or an RFC 3339 time (2026-11-20T10:00:00Z)", s)
}

// formatDate writes t as parseDate reads it, a day where it is one.
func formatDate(t time.Time) string {
	t = t.UTC()
	if t.Equal(t.Truncate(24 * time.Hour)) {
		return t.Format(time.DateOnly)
	}
	return t.Format(time.RFC3339Nano)
}

// checkName rejects names that cannot be a SIP user part as the registrar
// compares them: no white space, controls, ':' or '@'; and a leading '~',
// which would read back as the test mark.
func checkName(name string) error {
	if name == "" {
		return fmt.Errorf("empty account name")
	}
	if name[0] == '~' {
		return fmt.Errorf("account name %q: a name may not start with '~', which marks a test account", name)
	}
	if i := strings.IndexFunc(name, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == ':' || r == '@' || r == unicode.ReplacementChar
	}); i >= 0 {
		return fmt.Errorf("account name %q: character %q not allowed", name, []rune(name[i:])[0])
	}
	return nil
}

// WriteTo writes a in the format ParseUsers reads, sorted by name, active
// accounts first. It prints passwords: keep its output away from logs.
func (a Accounts) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	mark := func(name string) string {
		if a.Test[name] {
			return "~"
		}
		return ""
	}
	for _, name := range slices.Sorted(maps.Keys(a.Users)) {
		fmt.Fprintf(&b, "%s%s:%s\n", mark(name), name, a.Users[name])
	}
	for _, name := range slices.Sorted(maps.Keys(a.Deleted)) {
		if !a.Deleted[name] {
			continue
		}
		fmt.Fprintf(&b, "!%s%s", mark(name), name)
		if t, ok := a.DeletedAt[name]; ok {
			b.WriteString(" " + formatDate(t))
		}
		b.WriteByte('\n')
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}
