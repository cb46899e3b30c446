package main

import (
	"context"
	"log/slog"
	"net/netip"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/ban/bantest"
	"github.com/sipban/sipban/internal/kernel"
	"github.com/sipban/sipban/internal/netnstest"
	"github.com/sipban/sipban/internal/scope/scopetest"
)

func TestMain(m *testing.M) { netnstest.Main(m) }

// TestKernelEnforcers runs the registrar as a user would with -enforcer
// nftables and with -enforcer iptables: a password guesser is banned in the
// kernel on the SIP port, -ports 5070 here, and still reaches the others;
// with -keep a second run adopts the ban. -ban-local: the guesser is on
// loopback.
func TestKernelEnforcers(t *testing.T) {
	netnstest.Require(t)
	for name, list := range map[string][]string{
		"nftables": {"nft", "list", "set", "inet", "regtest", "v4_32"},
		"iptables": {"ipset", "list", "regtest4"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := config{listen: "127.0.0.1:5070", realm: "sipban.local", enforcer: name, table: "regtest", keep: true,
				scope: kernel.Flags{BanLocal: true, Ports: "5070"}}
			stop := start(t, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			d := bantest.Dialer{Timeout: 200 * time.Millisecond}
			c, err := d.Dial(ctx, "127.0.0.2:0", cfg.listen)
			require.NoError(t, err)
			defer c.Close()
			// As fast as it can: the Guard bans before the fifth 403
			// leaves, so the sixth guess meets the kernel's drop.
			res, err := bantest.GuessPasswords(ctx, c, "alice", 8)
			require.NoError(t, err)
			t.Log(res)
			assert.Equal(t, 5, res.Answered, "answered until the fifth wrong password")
			assert.Equal(t, 3, res.Unanswered, "then dropped")
			guesser := netip.MustParseAddr("127.0.0.2")
			assert.False(t, scopetest.Reaches(t, "udp", guesser, 5070), "dropped by the kernel")
			assert.True(t, scopetest.Reaches(t, "tcp", guesser, 8080), "the admin API's port is still open to it")
			stop()

			out, err := exec.Command(list[0], list[1:]...).CombinedOutput()
			require.NoError(t, err, "%s", out)
			assert.Contains(t, string(out), "127.0.0.2", "-keep left the ban in the kernel")

			cfg.keep = false
			stop = start(t, cfg)
			res, err = bantest.GuessPasswords(ctx, c, "alice", 1)
			require.NoError(t, err)
			assert.Equal(t, 1, res.Unanswered, "still banned after the restart")
			stop()
			assert.True(t, scopetest.Reaches(t, "udp", guesser, 5070), "without -keep the table goes on exit")
		})
	}
}

// TestLoopbackAllowed: without -ban-local, a guesser on loopback is never
// banned, in memory or in the kernel; with it, it is.
func TestLoopbackAllowed(t *testing.T) {
	netnstest.Require(t)
	for _, banLocal := range []bool{false, true} {
		cfg := config{listen: "127.0.0.1:5071", realm: "sipban.local", enforcer: "nftables", table: "loopback",
			scope: kernel.Flags{BanLocal: banLocal, Ports: "5071"}}
		stop := start(t, cfg)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		d := bantest.Dialer{Timeout: 200 * time.Millisecond}
		c, err := d.Dial(ctx, "127.0.0.3:0", cfg.listen)
		require.NoError(t, err)
		res, err := bantest.GuessPasswords(ctx, c, "alice", 8)
		require.NoError(t, err)
		c.Close()
		cancel()
		if banLocal {
			assert.Equal(t, 3, res.Unanswered, "-ban-local: banned")
		} else {
			assert.Equal(t, 8, res.Answered, "loopback is allow-listed")
			out, err := exec.Command("nft", "list", "set", "inet", "loopback", "allow4").CombinedOutput()
			require.NoError(t, err, "%s", out)
			assert.Contains(t, string(out), "127.0.0.0/8", "and spared in the kernel")
		}
		stop()
	}
}

// start runs the registrar until the returned func is called, which waits
// for it to end cleanly.
func start(t *testing.T, cfg config) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, slog.New(slog.DiscardHandler), cfg) }()
	// Ready when it answers.
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	d := bantest.Dialer{Timeout: 100 * time.Millisecond}
	require.NoError(t, bantest.WaitUntil(wctx, func() bool {
		c, err := d.Dial(wctx, "127.0.0.9:0", cfg.listen)
		if err != nil {
			return false
		}
		defer c.Close()
		_, err = c.Options(wctx, "ping")
		return err == nil
	}))
	return func() {
		cancel()
		require.NoError(t, <-done)
	}
}
