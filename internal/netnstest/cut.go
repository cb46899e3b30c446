//go:build linux

package netnstest

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/sipban/sipban/enforce"
)

// CutsTrackedFlow checks that e cuts a UDP flow that conntrack already
// tracks, and that a stateful firewall accepts early, the moment Ban returns,
// for an IPv4 source and for an IPv6 one banned by its /64; and that the
// flow resumes after Unban. It turns connection tracking on.
func CutsTrackedFlow(t *testing.T, e enforce.Enforcer) {
	t.Helper()
	Require(t)
	TrackConnections(t)
	for _, tc := range []struct {
		server, client string
		ban            netip.Prefix
	}{
		{"127.0.0.1:0", "127.0.0.2:5062", netip.MustParsePrefix("127.0.0.2/32")},
		{"[::1]:0", "[fd00:5ba:0:7::2]:5062", netip.MustParsePrefix("fd00:5ba:0:7::/64")},
	} {
		t.Run(tc.client, func(t *testing.T) {
			r := StartResponder(t, netip.MustParseAddrPort(tc.server))
			src := netip.MustParseAddrPort(tc.client)
			f := StartFlow(t, src, r.Addr(), time.Millisecond)
			if !f.WaitAnswers(50, 5*time.Second) {
				t.Fatal("the flow does not run")
			}
			if !Tracked(t, src) {
				t.Fatal("conntrack does not know the flow")
			}

			start := time.Now()
			if err := e.Ban(context.Background(), tc.ban, time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			returned := time.Now()
			sent := f.Sent()
			n, last := lastAnswer(f, returned, 200*time.Millisecond)
			t.Logf("Ban took %v; after it returned, %d answers came (to requests sent before), the last %v after; requests sent since: %d",
				returned.Sub(start), n, last.Sub(returned), f.Sent()-sent)
			// Requests sent before Ban returned may still be answered
			// (a busy responder has a queue); none sent after is.
			if got := f.LastAnswered(); got > sent {
				t.Errorf("request %d, sent after Ban returned (at %d), was answered", got, sent)
			}
			if !f.Silent(200 * time.Millisecond) {
				t.Error("answers after the ban")
			}
			if f.Sent() < sent+100 {
				t.Errorf("the flow stopped sending: %d requests since", f.Sent()-sent)
			}
			if !Tracked(t, src) {
				t.Error("conntrack lost the flow: the test proves nothing")
			}

			if err := e.Unban(context.Background(), tc.ban); err != nil {
				t.Fatal(err)
			}
			if !f.WaitAnswers(20, 5*time.Second) {
				t.Error("answers do not resume after Unban")
			}
		})
	}
}

// lastAnswer waits until the flow has had no answer for quiet (or 5 s
// pass) and returns how many answers came after since, and when the last
// of them came (since itself if none did).
func lastAnswer(f *Flow, since time.Time, quiet time.Duration) (int64, time.Time) {
	last, first := since, f.Answers()
	for n := first; time.Since(since) < 5*time.Second; time.Sleep(50 * time.Microsecond) {
		if m := f.Answers(); m != n {
			last, n = time.Now(), m
		} else if time.Since(last) > quiet {
			break
		}
	}
	return f.Answers() - first, last
}
