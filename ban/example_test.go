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
// work: only its account is blocked at that address, and the record says
// why, which device, and what to do, in English or German.
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
	d := r.Diagnosis
	fmt.Println(d.Cause, d.Confidence)
	for _, dev := range d.Devices {
		fmt.Println(dev.Port, dev.Accounts, "failures", dev.Failures, "suspect", dev.Suspect)
	}
	fmt.Println(d.Advice[0])
	de, _ := g.Explain(r.Subject, g.Language("de-DE", "en"))
	fmt.Println(de.Diagnosis.Advice[0])
	// Output:
	// office banned: false
	// carol blocked: true
	// alice blocked: false
	// carol@198.51.100.7 account bad-credentials 1h0m0s
	// credential-typo 0.6
	// 5062 [carol] failures 5 suspect true
	// 5061 [bob] failures 0 suspect false
	// 5060 [alice] failures 0 suspect false
	// Re-enter the password of account "carol" on the device (address 198.51.100.7/32, source port(s) 5062, User-Agent "Yealink SIP-T46S"), carefully.
	// Geben Sie das Passwort des Kontos "carol" auf dem Gerät (Adresse 198.51.100.7/32, Quellport(s) 5062, User-Agent "Yealink SIP-T46S") sorgfältig neu ein.
}
