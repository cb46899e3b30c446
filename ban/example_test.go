package ban_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/detect"
)

// A phone with a mistyped password sits in an office whose other phones
// work: only its account is blocked at that address, and the record says why.
// The server proves each sender receives its answers (a nonce issued to
// its address, package sipauth): only proven logins earn the office trust.
func ExampleGuard() {
	now := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	g, _ := ban.New(ban.Options{Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }})
	ctx := context.Background()
	observe := func(port uint16, account string, status int) {
		now = now.Add(10 * time.Second)
		ev := detect.Event{Source: netip.AddrPortFrom(netip.MustParseAddr("198.51.100.7"), port),
			Method: "REGISTER", Account: account, Credentials: true, Proven: true, Status: status, UserAgent: "Yealink SIP-T46S"}
		_ = g.Observe(ctx, &ev)
	}
	observe(5060, "alice", 200)
	observe(5061, "bob", 200)
	for range 5 {
		observe(5062, "carol", 403)
	}
	office := netip.MustParseAddr("198.51.100.7")
	fmt.Println("office banned:", g.Banned(office))
	fmt.Println("carol blocked:", g.Admit(office, "carol", "") == ban.Blocked)
	fmt.Println("alice blocked:", g.Admit(office, "alice", "") == ban.Blocked)
	r := g.Bans()[0]
	fmt.Println(r.Subject, r.Scope, r.Cause, r.Until.Sub(r.Since))
	fmt.Println(r.Diagnosis.Summary)
	fmt.Println(r.Diagnosis.Advice[0])
	// Output:
	// office banned: false
	// carol blocked: true
	// alice blocked: false
	// carol@198.51.100.7 account bad-credentials 1h0m0s
	// A device registering as "carol" had its password rejected 5 times (address first seen 1m0s earlier); only account "carol" from 198.51.100.7 is refused; the other devices there keep working.
	// Re-enter the password of account "carol" on the device (address 198.51.100.7/32, source port(s) [5062], User-Agent "Yealink SIP-T46S"); if the password was changed, update every device that uses it.
}
