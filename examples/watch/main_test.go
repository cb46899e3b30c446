package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/banredis"
	"github.com/sipban/sipban/ban/bantest"
	"github.com/sipban/sipban/internal/kernel"
	"github.com/sipban/sipban/internal/redistest"
	"github.com/sipban/sipban/internal/syncbuf"
	"github.com/sipban/sipban/watch"
)

// TestCaptureFile reads the capture kept in testdata: tshark on loopback
// while sipp registered as alice 10 times from 127.0.0.20 with the right
// password and as bob 10 times from 127.0.0.21 with a wrong one, against a
// server that answered every request. -ban-local: they are on loopback.
//
// sipp answered each 401 with the nonce the server sent it, so watch proves
// every credentialed REGISTER: the five first wrong ones ban 127.0.0.21, and
// all ten (the server, unprotected, kept answering them) are proven guesses
// at bob from anywhere, which guard bob (AccountSlow: 10 within 24 hours).
// Before watch read nonces, they were unproven and counted for the address
// only.
func TestCaptureFile(t *testing.T) {
	var out bytes.Buffer
	local := kernel.Flags{BanLocal: true}
	require.NoError(t, run(context.Background(), &out, config{file: "testdata/guesser.pcapng", scope: local}))
	t.Log(out.String())
	assert.Contains(t, out.String(), "ban 127.0.0.21 (address, bad-credentials)")
	assert.Contains(t, out.String(), "ban bob@* (guard, bad-credentials)")
	assert.NotContains(t, out.String(), "127.0.0.20")
	assert.NotContains(t, out.String(), "alice")
	assert.Contains(t, out.String(), "watch: 80 SIP messages, 40 transactions paired, 0 unanswered, 0 unreadable, 0 frames skipped; 2 bans")

	out.Reset()
	require.NoError(t, run(context.Background(), &out, config{file: "testdata/guesser.pcapng", json: true, scope: local}))
	assert.Contains(t, out.String(), `"subject":"127.0.0.21","scope":"address","cause":"bad-credentials"`)
	assert.Contains(t, out.String(), `"user_agents":["sipp"]`)
}

// TestLocalAllowed: without -ban-local the guesser on loopback is never
// banned; -allow spares an address the same way.
func TestLocalAllowed(t *testing.T) {
	for _, tc := range []struct {
		scope kernel.Flags
		say   string
	}{
		{kernel.Flags{}, "127.0.0.0/8 "},
		{kernel.Flags{BanLocal: true, Allow: "127.0.0.21"}, "watch: never banned (allow-list, 1): 127.0.0.21/32\n"},
	} {
		var out bytes.Buffer
		require.NoError(t, run(context.Background(), &out, config{file: "testdata/guesser.pcapng", scope: tc.scope}))
		assert.Contains(t, out.String(), tc.say)
		assert.Contains(t, out.String(), "40 transactions paired, 0 unanswered, 0 unreadable, 0 frames skipped; 0 bans")
	}
}

func TestRunRefuses(t *testing.T) {
	for _, tc := range []struct {
		cfg config
		err string
	}{
		{config{}, "give one of -r file, -i interface or -hep address"},
		{config{file: "x", iface: "lo"}, "give one of -r file, -i interface or -hep address"},
		{config{file: "x", hep: "127.0.0.1:0"}, "give one of -r file, -i interface or -hep address"},
		{config{file: "testdata/guesser.pcapng", hepKey: "k"}, "-hep-key and -hep-from need -hep"},
		{config{file: "testdata/guesser.pcapng", hepFrom: "127.0.0.1"}, "-hep-key and -hep-from need -hep"},
		{config{hep: "127.0.0.1:0", hepFrom: "server"}, `-hep-from: "server" is neither an address nor a prefix`},
		{config{hep: "127.0.0.1"}, "-hep: listen udp"},
		{config{file: "testdata/none.pcap"}, "no such file"},
		{config{file: "main.go"}, "-r main.go: not a pcap or pcapng file"},
		{config{file: "testdata/guesser.pcapng", servers: "5060"}, "-server"},
		{config{file: "testdata/guesser.pcapng", enforcer: "ipfw"}, `-enforcer "ipfw"`},
		{config{file: "testdata/guesser.pcapng", enforcer: "nftables", table: "bad name"}, "table name"},
		{config{file: "testdata/guesser.pcapng", scope: kernel.Flags{Allow: "127.0.0.21/40"}}, `-allow: "127.0.0.21/40"`},
		{config{file: "testdata/guesser.pcapng", scope: kernel.Flags{Ports: "five"}}, `-ports: "five"`},
		{config{iface: "no-such-interface0"}, "no-such-interface0"},
	} {
		err := run(context.Background(), io.Discard, tc.cfg)
		assert.ErrorContains(t, err, tc.err, "%+v", tc.cfg)
	}
}

// startHEP runs watch with -hep on a free loopback port until the returned
// func is called, which returns run's error.
func startHEP(t *testing.T, cfg config, out *syncbuf.Buffer) (addr string, stop func() error) {
	t.Helper()
	cfg.hep = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, out, cfg) }()
	listening := regexp.MustCompile(`watch: receiving HEP on (\S+) \(udp and tcp\)`)
	for {
		if m := listening.FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
			break
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("run: %v\n%s", err, out.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { _ = stop() })
	return addr, stop
}

// waitOutput waits for run to print want.
func waitOutput(t *testing.T, out *syncbuf.Buffer, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), want) {
		require.True(t, time.Now().Before(deadline), "no %q in:\n%s", want, out.String())
		time.Sleep(10 * time.Millisecond)
	}
}

// TestHEP mirrors testdata's capture over HEP, as the server would have
// sent it, to watch -hep: the same bans as TestCaptureFile, the server
// found as where the requests went. A datagram that is not HEP is
// refused and logged.
func TestHEP(t *testing.T) {
	stream := hepStream(t)

	var out syncbuf.Buffer
	addr, stop := startHEP(t, config{scope: kernel.Flags{BanLocal: true}}, &out)
	junk, err := net.Dial("udp", addr)
	require.NoError(t, err)
	defer junk.Close()
	_, err = junk.Write([]byte("OPTIONS sip:x SIP/2.0\r\n\r\n"))
	require.NoError(t, err)
	waitOutput(t, &out, `msg="watch: hep: packet refused"`)

	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write(stream)
	require.NoError(t, err)
	// The last packet, bob's tenth 403, guards bob.
	waitOutput(t, &out, "ban bob@* (guard, bad-credentials)")
	require.NoError(t, stop())
	t.Log(out.String())
	assert.Contains(t, out.String(), "ban 127.0.0.21 (address, bad-credentials)")
	assert.NotContains(t, out.String(), "ban 127.0.0.20")
	assert.Contains(t, out.String(), "watch: 80 SIP messages, 40 transactions paired, 0 unanswered, 0 unreadable, 1 HEP packets refused, 0 not SIP; 2 bans")
}

// TestHEPKey: with -hep-key, packets without the key are refused.
func TestHEPKey(t *testing.T) {
	var out syncbuf.Buffer
	addr, stop := startHEP(t, config{hepKey: "s3cret", scope: kernel.Flags{BanLocal: true}}, &out)
	hep, err := watch.AppendHEP(nil, &watch.Packet{Time: time.Now(), Src: netip.MustParseAddrPort("127.0.0.21:5062"),
		Dst: netip.MustParseAddrPort("127.0.0.1:5060"), Transport: "udp", Payload: []byte("OPTIONS sip:x SIP/2.0\r\n\r\n")})
	require.NoError(t, err)
	c, err := net.Dial("udp", addr)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write(hep)
	require.NoError(t, err)
	waitOutput(t, &out, `err="watch: hep: wrong or missing auth key"`)
	require.NoError(t, stop())
	assert.Contains(t, out.String(), "watch: 0 SIP messages, 0 transactions paired, 0 unanswered, 0 unreadable, 1 HEP packets refused, 0 not SIP; 0 bans")
}

// TestState: a second run on the same -state file restores the first's
// bans, so replaying the capture again makes none: they still hold.
func TestState(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.db")
	cfg := config{file: "testdata/guesser.pcapng", scope: kernel.Flags{BanLocal: true}, state: state}
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out, cfg))
	assert.Contains(t, out.String(), "watch: 0 records restored from "+state)
	assert.Contains(t, out.String(), "; 2 bans")
	out.Reset()
	require.NoError(t, run(context.Background(), &out, cfg))
	assert.Contains(t, out.String(), "watch: 2 records restored from "+state)
	assert.Contains(t, out.String(), "; 0 bans", "the restored bans were made again")
}

// TestRedis: with -redis, the bans watch makes reach the other edges of
// the fleet (here a follower of the same real Redis, SIPBAN_REDIS=1).
func TestRedis(t *testing.T) {
	rs := redistest.Start(t)
	other, err := banredis.New(rs.Client(), banredis.Options{Edge: "other", Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	got := make(chan ban.Change, 16)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go other.Follow(ctx, func(c ban.Change) { got <- c })
	require.NoError(t, bantest.WaitUntil(ctx, func() bool { return other.Stats().Synced }))

	var out bytes.Buffer
	require.NoError(t, run(ctx, &out, config{file: "testdata/guesser.pcapng", scope: kernel.Flags{BanLocal: true}, redis: rs.Addr}))
	assert.Contains(t, out.String(), "watch: sharing bans through Redis at "+rs.Addr)
	subjects := map[string]bool{}
	for len(subjects) < 2 {
		select {
		case c := <-got:
			subjects[c.Record.Subject.String()] = true
		case <-time.After(10 * time.Second):
			t.Fatalf("the fleet got %v", subjects)
		}
	}
	assert.Equal(t, map[string]bool{"127.0.0.21": true, "bob@*": true}, subjects)
}
