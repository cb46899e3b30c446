package registrar_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/sipban/sipban/internal/registrar"
)

// The file holds no history: a Directory dates what changed between two
// reads of it at the second.
func ExampleDirectory_Reload() {
	read := func(file string) registrar.Accounts {
		a, err := registrar.ParseUsers(strings.NewReader(file))
		if err != nil {
			panic(err)
		}
		return a
	}
	d := registrar.NewDirectory(read("alice:one\nbob:two\n~qa:three\n!old 2026-11-20\n"))
	now := time.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC)
	c := d.Reload(read("alice:changed\n!~qa\n!old\n"), now)
	fmt.Printf("%+v\n", c)
	fmt.Println("alice's password changed:", d.Account("alice").PasswordChanged)
	fmt.Println("bob, gone from the file, deleted:", d.Account("bob").DeletedAt)
	fmt.Println("qa, a test account, deleted:", d.Account("qa").DeletedAt, d.Account("qa").Test)
	fmt.Println("old still deleted:", d.Account("old").DeletedAt)
	fmt.Println(d.Similar("alcie"))
	// Output:
	// {Accounts:1 Added:0 Passwords:1 Deleted:2}
	// alice's password changed: 2026-12-02 07:00:00 +0000 UTC
	// bob, gone from the file, deleted: 2026-12-02 07:00:00 +0000 UTC
	// qa, a test account, deleted: 2026-12-02 07:00:00 +0000 UTC true
	// old still deleted: 2026-11-20 00:00:00 +0000 UTC
	// alice true
}
