package bantest_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/bantest"
	"github.com/sipban/sipban/ban/sipgoban"
)

// A sipgo server protected by a Guard meets a scanner: not even its first
// request is answered, and the scanner is banned.
func Example() {
	ctx := context.Background()

	// The server under test.
	g, _ := ban.New(ban.Options{Logger: slog.New(slog.DiscardHandler)})
	ua, _ := sipgo.NewUA(sipgoban.Option(g))
	defer ua.Close()
	srv, _ := sipgo.NewServer(ua)
	srv.OnOptions(sipgoban.Wrap(g, func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	}))
	conn, _ := net.ListenPacket("udp", "127.0.0.1:0")
	defer conn.Close()
	go srv.ServeUDP(conn)

	// The attacker, from another loopback address.
	d := bantest.Dialer{Timeout: 300 * time.Millisecond}
	c, err := d.Dial(ctx, "127.0.0.2:0", conn.LocalAddr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	res, _ := bantest.Scanner(ctx, c, 1)
	fmt.Println("first:", res)

	wait, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := bantest.WaitUntil(wait, func() bool { return g.Banned(c.LocalAddr().Addr()) }); err != nil {
		fmt.Println("not banned:", err)
		return
	}
	res, _ = bantest.Scanner(ctx, c, 2)
	fmt.Println("banned:", res)
	// Output:
	// first: sent 1, answered 0, unanswered 1
	// banned: sent 2, answered 0, unanswered 2
}
