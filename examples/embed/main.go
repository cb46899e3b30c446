// Command embed is the README's quick start: a sipgo server protected by
// sipban in a few lines. Its handler refuses every password, so any client
// that tries five is banned; see examples/registrar for a full registrar.
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
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	g, err := ban.New(ban.Options{}) // default policy, in-memory bans
	if err != nil {
		log.Fatal(err)
	}
	go g.Run(ctx) // lifts bans as they expire

	ua, err := sipgo.NewUA(sipgoban.Option(g)) // banned sources are dropped before parsing
	if err != nil {
		log.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		log.Fatal(err)
	}
	srv.OnRegister(sipgoban.Wrap(g, func(req *sip.Request, tx sip.ServerTransaction) {
		status, reason := 401, "Unauthorized" // the challenge is never a failure
		if req.GetHeader("Authorization") != nil {
			status, reason = 403, "Forbidden" // credentials rejected: counted
		}
		res := sip.NewResponseFromRequest(req, status, reason, nil)
		if status == 401 {
			res.AppendHeader(sip.NewHeader("WWW-Authenticate", `Digest realm="sipban.local", nonce="x", algorithm=MD5`))
		}
		_ = tx.Respond(res)
	}))
	log.Print("embed: serving SIP on udp 127.0.0.1:5070")
	if err := srv.ListenAndServe(ctx, "udp", "127.0.0.1:5070"); err != nil && ctx.Err() == nil {
		log.Fatal(err)
	}
}
