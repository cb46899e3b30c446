package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/internal/kernel"
	"github.com/sipban/sipban/internal/netnstest"
	"github.com/sipban/sipban/internal/registrar"
	"github.com/sipban/sipban/internal/scope/scopetest"
	"github.com/sipban/sipban/internal/syncbuf"
)

// local lets watch ban the test's clients, which are on loopback.
var local = kernel.Flags{BanLocal: true}

func TestMain(m *testing.M) { netnstest.Main(m) }

// server runs the demo registrar on 127.0.0.1:5060 as the server being
// watched, with a Guard that never bans: it answers everything, as an
// unprotected Asterisk would.
func server(t *testing.T) {
	t.Helper()
	g, err := ban.New(ban.Options{NoStandard: true, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	accounts, err := registrar.ParseUsers(strings.NewReader("alice:alice-secret\nbob:bob-secret\n"))
	require.NoError(t, err)
	srv, err := registrar.New(registrar.Config{Accounts: accounts, Guard: g, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	conn, err := net.ListenPacket("udp", "127.0.0.1:5060")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, conn) }()
	t.Cleanup(func() { cancel(); <-done })
}

// capture starts cmd (tcpdump or tshark writing a file, told to stop by
// itself after a number of packets with -c) and waits until it says it
// listens. The returned func waits for it to exit: a tool stopped by a
// signal may drop the packets still in its buffer, which made the counts
// below flaky.
func capture(t *testing.T, ready string, name string, args ...string) (wait func()) {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start(), "%s must be installed (.ci/run does)", name)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), ready) {
		require.True(t, time.Now().Before(deadline), "%s did not start:\n%s", name, out.String())
		time.Sleep(20 * time.Millisecond)
	}
	return func() {
		select {
		case err := <-done:
			require.NoError(t, err, "%s:\n%s", name, out.String())
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Signal(syscall.SIGINT)
			<-done
			t.Fatalf("%s did not see all the packets it was told to wait for:\n%s", name, out.String())
		}
	}
}

func sipp(t *testing.T, scenario, local, account, password string, calls int) {
	t.Helper()
	sf, err := filepath.Abs(filepath.Join("..", "..", "internal", "registrar", "testdata", "sipp", scenario))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "sipp", "127.0.0.1:5060", "-sf", sf,
		"-s", account, "-au", account, "-ap", password, "-i", local,
		"-m", strconv.Itoa(calls), "-l", "1", "-r", "50", "-recv_timeout", "500",
		"-timeout", "30s", "-nostdin", "-trace_err", "-error_file", filepath.Join(t.TempDir(), "err.log"),
	).CombinedOutput()
	// Every call succeeds: the watched server answers 200 or 403 and
	// each is what the scenario expects.
	require.NoError(t, err, "sipp must be installed (.ci/run does):\n%s", out)
}

// TestCaptures: tcpdump (pcap) and tshark (pcapng) record sipp talking to
// the server, a phone with the right password and a guesser with a wrong
// one; watch reads each capture and bans the guesser only, then applies the
// ban in the kernel when asked. The guesser's ten answers to challenges are
// proven (their nonces were sent to it), so they also guard its account, as
// in TestCaptureFile.
func TestCaptures(t *testing.T) {
	netnstest.Require(t)
	server(t)
	dir := t.TempDir()
	pcap, pcapng := filepath.Join(dir, "sip.pcap"), filepath.Join(dir, "sip.pcapng")
	// 10 registrations: challenge and answer each; 10 guesses: challenge
	// and 403 each. Both tools stop after those 80 datagrams.
	const packets = "80"
	waitDump := capture(t, "listening on lo", "tcpdump", "-i", "lo", "--immediate-mode", "-U", "-c", packets, "-w", pcap, "udp port 5060")
	// tshark says "Capturing on" before dumpcap is capturing: a CI run lost
	// the first registration's 4 datagrams. Its last start-up line, naming
	// the file, comes once dumpcap has opened the interface and the file.
	waitShark := capture(t, `File: "`, "tshark", "-i", "lo", "-c", packets, "-w", pcapng, "-f", "udp port 5060")
	sipp(t, "register.xml", "127.0.0.20", "alice", "alice-secret", 10)
	sipp(t, "register_wrong.xml", "127.0.0.21", "bob", "guess", 10)
	waitDump()
	waitShark()

	for _, file := range []string{pcap, pcapng} {
		t.Run(filepath.Ext(file), func(t *testing.T) {
			var out bytes.Buffer
			require.NoError(t, run(context.Background(), &out, config{file: file, scope: local}))
			t.Log(out.String())
			assert.Contains(t, out.String(), "ban 127.0.0.21 (address, bad-credentials)")
			assert.Contains(t, out.String(), "ban bob@* (guard, bad-credentials)")
			assert.NotContains(t, out.String(), "127.0.0.20")
			assert.Contains(t, out.String(), "watch: 80 SIP messages, 40 transactions paired, 0 unanswered")
			bans := 0
			for line := range strings.Lines(out.String()) {
				if strings.HasPrefix(line, "ban ") {
					bans++
				}
			}
			assert.Equal(t, 2, bans)
		})
	}

	t.Run("applied with nftables", func(t *testing.T) {
		guesser := netip.MustParseAddr("127.0.0.21")
		require.True(t, scopetest.Reaches(t, "udp", guesser, 5060))
		require.NoError(t, run(context.Background(), io.Discard, config{file: pcapng, enforcer: "nftables", table: "watchtest", keep: true, scope: local}))
		assert.False(t, scopetest.Reaches(t, "udp", guesser, 5060), "the guesser is dropped by the kernel")
		assert.True(t, scopetest.Reaches(t, "tcp", guesser, 22), "on the SIP ports only")
		assert.True(t, scopetest.Reaches(t, "udp", netip.MustParseAddr("127.0.0.20"), 5060), "the phone is not")
	})
}

// TestLive watches loopback live while a guesser tries passwords, and stops
// when asked.
func TestLive(t *testing.T) {
	netnstest.Require(t)
	server(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out syncbuf.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, &out, config{iface: "lo", scope: local}) }()
	for !strings.Contains(out.String(), "capturing on lo") {
		select {
		case err := <-done:
			t.Fatalf("run: %v\n%s", err, out.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	// Five guesses: the fifth 403, the ban's trigger, is the last packet,
	// so every packet has been read when the ban shows.
	sipp(t, "register_wrong.xml", "127.0.0.22", "bob", "guess", 5)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "ban 127.0.0.22") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	require.NoError(t, <-done)
	t.Log(out.String())
	assert.Contains(t, out.String(), "ban 127.0.0.22 (address, bad-credentials)")
	assert.Contains(t, out.String(), "20 SIP messages, 10 transactions paired", "each packet seen once on loopback")
}
