package registrar

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"unicode"
)

// Accounts are the registrar's users. The zero Accounts has no users. A
// Server only reads its Accounts; do not change the maps while it serves.
type Accounts struct {
	// Users maps an account name to its password.
	Users map[string]string
	// Deleted holds names of accounts that existed once. The registrar answers
	// them as it answers names it never knew; the set documents which devices
	// may still be out there with old credentials.
	Deleted map[string]bool
}

// Password returns the password of the active account name.
func (a Accounts) Password(name string) (string, bool) {
	p, ok := a.Users[name]
	return p, ok
}

// ParseUsers reads an accounts file: one "name:password" per line, "!name"
// for a deleted account, '#' starting a comment line. Blank lines are
// ignored and lines are trimmed of surrounding white space; the password is
// everything after the first colon, so it may hold colons and '#'.
func ParseUsers(r io.Reader) (Accounts, error) {
	a := Accounts{Users: make(map[string]string), Deleted: make(map[string]bool)}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if name, ok := strings.CutPrefix(line, "!"); ok {
			if err := checkName(name); err != nil {
				return Accounts{}, fmt.Errorf("registrar: users line %d: %w", n, err)
			}
			if err := a.unused(name); err != nil {
				return Accounts{}, fmt.Errorf("registrar: users line %d: %w", n, err)
			}
			a.Deleted[name] = true
			continue
		}
		name, pass, ok := strings.Cut(line, ":")
		if !ok {
			return Accounts{}, fmt.Errorf("registrar: users line %d: missing ':' between name and password", n)
		}
		if err := checkName(name); err != nil {
			return Accounts{}, fmt.Errorf("registrar: users line %d: %w", n, err)
		}
		if pass == "" {
			return Accounts{}, fmt.Errorf("registrar: users line %d: account %q has an empty password", n, name)
		}
		if strings.IndexFunc(pass, unicode.IsControl) >= 0 {
			return Accounts{}, fmt.Errorf("registrar: users line %d: account %q: control character in password", n, name)
		}
		if err := a.unused(name); err != nil {
			return Accounts{}, fmt.Errorf("registrar: users line %d: %w", n, err)
		}
		a.Users[name] = pass
	}
	if err := sc.Err(); err != nil {
		return Accounts{}, fmt.Errorf("registrar: users: %w", err)
	}
	return a, nil
}

// checkName rejects names that cannot be a SIP user part as the registrar
// compares them: no white space, controls, ':' or '@'.
func checkName(name string) error {
	if name == "" {
		return fmt.Errorf("empty account name")
	}
	if i := strings.IndexFunc(name, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == ':' || r == '@' || r == unicode.ReplacementChar
	}); i >= 0 {
		return fmt.Errorf("account name %q: character %q not allowed", name, []rune(name[i:])[0])
	}
	return nil
}

func (a Accounts) unused(name string) error {
	if _, ok := a.Users[name]; ok || a.Deleted[name] {
		return fmt.Errorf("account %q listed twice", name)
	}
	return nil
}

// WriteTo writes a in the format ParseUsers reads, sorted by name, active
// accounts first. It prints passwords: keep its output away from logs.
func (a Accounts) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(a.Users)) {
		fmt.Fprintf(&b, "%s:%s\n", name, a.Users[name])
	}
	for _, name := range slices.Sorted(maps.Keys(a.Deleted)) {
		if a.Deleted[name] {
			fmt.Fprintf(&b, "!%s\n", name)
		}
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}
