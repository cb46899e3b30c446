package loadtest

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/sipban/sipban/ban"
)

// BanByGuessing gets each of addrs banned by g the way an attacker is: from
// each, it registers account at server with a wrong password, over a
// nonce issued to that address (so the Guard weighs it fully), until g
// bans the address. It fails if an answer is not 403 or no ban comes
// within the detector's threshold.
func BanByGuessing(ctx context.Context, g *ban.Guard, server netip.AddrPort, account string, addrs []netip.Addr) error {
	tries := g.Standard().Limits().BadCredentials.Threshold
	for _, a := range addrs {
		c, err := Dial(netip.AddrPortFrom(a, 0), server, account, "wrong password")
		if err != nil {
			return err
		}
		for i := 0; i < tries && !g.Banned(a); i++ {
			if status, err := c.Register(ctx); err != nil || status != 403 {
				c.Close()
				return fmt.Errorf("loadtest: guess %d from %v: status %d: %w", i+1, a, status, err)
			}
		}
		c.Close()
		if !g.Banned(a) {
			return fmt.Errorf("loadtest: %v not banned after %d wrong passwords", a, tries)
		}
	}
	return nil
}
