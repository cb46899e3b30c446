// Command embed is the README's quick start: a sipgo server protected by
// sipban in a few lines. It registers one demo account, alice with password
// alice-secret, checking digests with sipauth so that every verdict is
// proven; any client that tries five wrong passwords is banned. See
// examples/registrar for a full registrar.
package main

import (
	"context"
	"log"
	"os/signal"
	"syscall"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/sipgoban"
	"github.com/sipban/sipban/sipauth"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	g, err := ban.New(ban.Options{}) // default policy, in-memory bans
	if err != nil {
		log.Fatal(err)
	}
	go g.Run(ctx) // lifts bans as they expire

	// Nonces bound to the source address: a failure counts only against a
	// sender that reads our answers, so a forged source cannot cost anyone.
	auth, err := sipauth.New(sipauth.Options{Realm: "sipban.local"})
	if err != nil {
		log.Fatal(err)
	}
	password := func(user string) (string, bool) { return "alice-secret", user == "alice" }

	ua, err := sipgo.NewUA(sipgoban.Option(g)) // banned sources are dropped before parsing
	if err != nil {
		log.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		log.Fatal(err)
	}
	srv.OnRegister(sipgoban.Wrap(g, func(req *sip.Request, tx sip.ServerTransaction) {
		r, err := auth.Authenticate(req, tx, password)
		if err != nil || r.Verdict == sipauth.Unproven {
			return // challenged (the challenge is never a failure), or it could not be sent
		}
		sipgoban.MarkProven(tx) // the verdict is over a nonce issued to this source
		status, reason := 200, "OK"
		switch {
		case r.Unknown:
			status, reason = 404, "Not Found"
		case r.Verdict == sipauth.Rejected:
			status, reason = 403, "Forbidden" // credentials rejected: counted
		}
		_ = tx.Respond(sip.NewResponseFromRequest(req, status, reason, nil))
	}))
	log.Print("embed: serving SIP on udp 127.0.0.1:5070 (account alice, password alice-secret)")
	if err := srv.ListenAndServe(ctx, "udp", "127.0.0.1:5070"); err != nil && ctx.Err() == nil {
		log.Fatal(err)
	}
}
