package sipauth_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/icholy/digest"

	"github.com/sipban/sipban/sipauth"
)

// A phone at 192.0.2.10 answers a challenge; the same credentials sent
// from another address prove nothing.
func Example() {
	now := time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)
	a, err := sipauth.New(sipauth.Options{Realm: "example.com", Now: func() time.Time { return now }})
	if err != nil {
		panic(err)
	}
	phone := netip.MustParseAddr("192.0.2.10")

	// What the phone does with the WWW-Authenticate value.
	chal, _ := digest.ParseChallenge(a.Challenge(phone, false))
	answer := func(password string) string {
		cred, _ := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: "sip:example.com",
			Username: "alice", Password: password})
		return cred.String()
	}

	v, _ := a.Check(phone, "REGISTER", answer("alice-secret"), "alice-secret")
	fmt.Println("right password:", v)
	v, _ = a.Check(phone, "REGISTER", answer("guess"), "alice-secret")
	fmt.Println("wrong password:", v)
	v, _ = a.Check(netip.MustParseAddr("203.0.113.5"), "REGISTER", answer("guess"), "alice-secret")
	fmt.Println("from elsewhere:", v)
	now = now.Add(sipauth.DefaultLifetime + time.Second)
	v, _ = a.Check(phone, "REGISTER", answer("alice-secret"), "alice-secret")
	fmt.Println("too late:", v)
	// Output:
	// right password: accepted
	// wrong password: rejected
	// from elsewhere: unproven
	// too late: unproven
}
