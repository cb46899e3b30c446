package main

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/internal/kernel"
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
		{config{}, "give one of -r file or -i interface"},
		{config{file: "x", iface: "lo"}, "give one of -r file or -i interface"},
		{config{file: "testdata/none.pcap"}, "no such file"},
		{config{file: "main.go"}, "watch: pcap"},
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
