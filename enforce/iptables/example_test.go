package iptables_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/netip"
	"time"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/enforce"
	"github.com/sipban/sipban/enforce/iptables"
)

// Example puts a Guard's bans in the kernel, keeping them across restarts.
// It needs root, so it is compiled but not run.
func Example() {
	ctx := context.Background()
	e, err := iptables.New(ctx, iptables.Options{Keep: true})
	if errors.Is(err, enforce.ErrUnsupported) {
		log.Fatal("not Linux: use the Guard's in-memory enforcement alone")
	}
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()
	g, err := ban.New(ban.Options{Enforcers: []enforce.Enforcer{e}})
	if err != nil {
		log.Fatal(err)
	}
	// Adopt the bans the last run left in the sets.
	if n, err := g.Reconcile(ctx); err != nil {
		log.Print(err)
	} else {
		log.Printf("adopted %d bans", n)
	}
	// A ban made by hand; a full set says so.
	err = e.Ban(ctx, netip.MustParsePrefix("2001:db8:1:2::/64"), time.Now().Add(time.Hour))
	if errors.Is(err, iptables.ErrFull) {
		log.Print("raise Options.MaxElem: ", err)
	}
}

// ExampleNew_options shows that Options are checked before anything is
// touched, on any system.
func ExampleNew_options() {
	_, err := iptables.New(context.Background(), iptables.Options{Name: "sip ban"})
	fmt.Println(err)
	_, err = iptables.New(context.Background(), iptables.Options{MaxElem: -1})
	fmt.Println(err)
	// Output:
	// iptables: set name "sip ban": only letters, digits, '_' and '-'
	// iptables: maxelem -1: want 1 to 4294967295
}
