package registrar_test

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/ban/bantest"
	"github.com/sipban/sipban/detect"
)

// serveStreams serves tb's registrar over TCP and TLS too, and returns
// their addresses by transport.
func (tb *testbed) serveStreams(t *testing.T) map[string]string {
	t.Helper()
	cert, err := bantest.SelfSigned("127.0.0.1")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	addrs := map[string]string{}
	var dones []chan error
	for _, transport := range []string{"tcp", "tls"} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addrs[transport] = l.Addr().String()
		done := make(chan error, 1)
		dones = append(dones, done)
		if transport == "tls" {
			go func() { done <- tb.srv.ServeTLS(ctx, l, &tls.Config{Certificates: []tls.Certificate{cert}}) }()
		} else {
			go func() { done <- tb.srv.ServeTCP(ctx, l) }()
		}
	}
	t.Cleanup(func() {
		cancel()
		for _, done := range dones {
			assert.ErrorIs(t, <-done, context.Canceled)
		}
	})
	return addrs
}

// streamClient dials target over transport from local.
func streamClient(t *testing.T, transport, local, target string) *bantest.Client {
	t.Helper()
	d := bantest.Dialer{Timeout: silence, UserAgent: "Yealink SIP-T46U 108.86.0.20", Transport: transport}
	c, err := d.Dial(context.Background(), local, target)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// TestStreamGuessingBanned: over TCP and TLS, a guesser is banned after
// five guesses, as over UDP; its connection is then cut and nothing more
// of it reaches a handler, while a phone over TLS keeps registering.
func TestStreamGuessingBanned(t *testing.T) {
	t.Parallel()
	tb := start(t)
	addrs := tb.serveStreams(t)
	phone := streamClient(t, "tls", "127.0.9.1:0", addrs["tls"])
	// One account per guesser: guesses at one account from two addresses
	// would guard it.
	for i, transport := range []string{"tcp", "tls"} {
		account := []string{"alice", "carol"}[i]
		c := streamClient(t, transport, []string{"127.0.9.2:0", "127.0.9.3:0"}[i], addrs[transport])
		addr := c.LocalAddr().Addr()
		res, err := bantest.GuessPasswords(ctx, c, account, 5)
		require.NoError(t, err)
		assert.Equal(t, map[int]int{403: 5}, res.Statuses, "%s: %v", transport, res)
		tb.settle(t, addr, 10)
		rec := tb.banned(t, addr)
		assert.Equal(t, detect.BadCredentials, rec.Cause)
		assert.Equal(t, 5, rec.Evidence.Count, transport)

		// The next guess on the same connection meets a closed one, and so
		// does a new connection from the address.
		tb.assertSilenced(t, addr, func() (bantest.Result, error) { return bantest.GuessPasswords(ctx, c, account, 2) })
		again := streamClient(t, transport, addr.String()+":0", addrs[transport])
		tb.assertSilenced(t, addr, func() (bantest.Result, error) {
			return bantest.HealthyPhone(ctx, again, account, password(account), 1)
		})

		res, err = bantest.HealthyPhone(ctx, phone, "bob", "bob-secret", 3)
		require.NoError(t, err)
		assert.Equal(t, map[int]int{200: 3}, res.Statuses, "the phone over TLS: %v", res)
		tb.clock.Advance(30 * time.Second)
	}
	assert.False(t, tb.g.Banned(phone.LocalAddr().Addr()))
	assert.Len(t, tb.g.Bans(), 2)
}

// TestStreamScenarios: the other scenarios run unchanged over TCP and TLS.
func TestStreamScenarios(t *testing.T) {
	t.Parallel()
	tb := start(t)
	addrs := tb.serveStreams(t)
	for i, transport := range []string{"tcp", "tls"} {
		c := streamClient(t, transport, []string{"127.0.9.4:0", "127.0.9.5:0"}[i], addrs[transport])
		res, err := bantest.Scanner(ctx, c, 4)
		require.NoError(t, err)
		assert.Equal(t, 4, res.Unanswered, "%s: a scanner learns nothing: %v", transport, res)
		assert.True(t, tb.g.Banned(c.LocalAddr().Addr()), transport)
		st, err := streamClient(t, transport, "127.0.9.6:0", addrs[transport]).Options(ctx, "")
		require.NoError(t, err)
		assert.Equal(t, 200, st, transport)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	require.ErrorContains(t, tb.srv.ServeTCP(ctx, l), "registrar: ServeTCP called twice")
}
