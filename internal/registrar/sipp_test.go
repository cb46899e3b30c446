package registrar_test

import (
	"context"
	"errors"
	"net/netip"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/detect"
)

// TestSipp drives the registrar with sipp, an independent SIP client, from
// two loopback sources: a phone registering with good credentials and a
// guesser with a wrong password. It runs when SIPBAN_SIPP is set, and then
// fails rather than skips if sipp is missing.
func TestSipp(t *testing.T) {
	bin := tools(t, "SIPBAN_SIPP", "run sipp (https://github.com/SIPp/sipp) against the registrar", "sipp")[0]
	tb := start(t)

	t.Run("phone registers", func(t *testing.T) {
		r := runSipp(t, bin, tb.addr, "register.xml", "127.0.0.10", "alice", "alice-secret", 20)
		assert.Equal(t, 0, r.exit, "sipp exit status\n%s", r.out)
		assert.Equal(t, 20, r.ok, "successful calls\n%s", r.out)
		assert.Equal(t, 0, r.failed, "failed calls\n%s", r.out)
		// A challenged REGISTER and an authenticated one per registration.
		addr := netip.MustParseAddr("127.0.0.10")
		tb.settle(t, addr, 40)
		assert.False(t, tb.g.Banned(addr))
		assert.Empty(t, tb.g.Bans())
	})

	t.Run("guesser banned after 5", func(t *testing.T) {
		addr := netip.MustParseAddr("127.0.0.11")
		r := runSipp(t, bin, tb.addr, "register_wrong.xml", "127.0.0.11", "alice", "guess", 8)
		assert.Equal(t, 1, r.exit, "sipp exits 1 when calls fail\n%s", r.out)
		assert.Equal(t, 5, r.ok, "403 answers before the ban\n%s", r.out)
		assert.Equal(t, 3, r.failed, "calls timed out after the ban\n%s", r.out)
		tb.settle(t, addr, 10)
		rec := tb.banned(t, addr)
		assert.Equal(t, detect.BadCredentials, rec.Cause)
		assert.Equal(t, []string{"sipp"}, rec.Evidence.UserAgents)

		// Even the right password now meets silence, and reaches no handler.
		r = runSipp(t, bin, tb.addr, "register.xml", "127.0.0.11", "alice", "alice-secret", 2)
		assert.Equal(t, 1, r.exit, "%s", r.out)
		assert.Equal(t, 0, r.ok, "%s", r.out)
		assert.Equal(t, 2, r.failed, "%s", r.out)
		assert.Equal(t, 10, tb.srv.Handled(addr), "requests from a banned source reached a handler")
	})

	// A softphone with a mistyped password next to a working phone: only
	// its account is blocked there, named a typo, the softphone the suspect.
	t.Run("typo explained", func(t *testing.T) {
		addr := netip.MustParseAddr("127.0.0.12")
		r := runSipp(t, bin, tb.addr, "register.xml", "127.0.0.12", "alice", "alice-secret", 2)
		require.Equal(t, 0, r.exit, "%s", r.out)
		r = runSipp(t, bin, tb.addr, "register_wrong.xml", "127.0.0.12:5072", "carol", "Carol-Secret", 5)
		require.Equal(t, 5, r.ok, "403 answers\n%s", r.out)
		r = runSipp(t, bin, tb.addr, "register.xml", "127.0.0.12", "alice", "alice-secret", 1)
		require.Equal(t, 0, r.exit, "the phone registers after the block\n%s", r.out)
		tb.settle(t, addr, 4+10+2)
		assert.False(t, tb.g.Banned(addr))
		rec, ok := tb.g.Record(detect.Subject{Prefix: netip.PrefixFrom(addr, 32), Account: "carol"})
		require.True(t, ok, "bans: %+v", tb.g.Bans())
		d := rec.Diagnosis
		assert.Equal(t, ban.CauseTypo, d.Cause)
		var suspects, healthy int
		for _, dv := range d.Devices {
			if dv.Suspect {
				suspects++
				assert.Equal(t, []string{"carol"}, dv.Accounts)
				assert.Equal(t, 5, dv.Failures)
				continue
			}
			healthy++
			assert.Positive(t, dv.Successes)
			assert.Zero(t, dv.Failures)
		}
		assert.Equal(t, 1, suspects, "%+v", d.Devices)
		assert.Equal(t, 1, healthy, "the phone, port 5060: %+v", d.Devices)
	})

	t.Run("phone unaffected", func(t *testing.T) {
		r := runSipp(t, bin, tb.addr, "register.xml", "127.0.0.10", "alice", "alice-secret", 3)
		assert.Equal(t, 0, r.exit, "%s", r.out)
		assert.Equal(t, 3, r.ok, "%s", r.out)
		tb.settle(t, netip.MustParseAddr("127.0.0.10"), 46)
	})
}

// TestSippTCP is TestSipp's phone and guesser over TCP (sipp -t t1): the
// guesser is banned after 5 and its connection cut. Debian's sipp is built
// without TLS (no -t l1), so TLS is left to bantest (TestStreamGuessingBanned).
func TestSippTCP(t *testing.T) {
	bin := tools(t, "SIPBAN_SIPP", "run sipp (https://github.com/SIPp/sipp) against the registrar", "sipp")[0]
	tb := start(t)
	target := tb.serveStreams(t)["tcp"]

	t.Run("phone registers", func(t *testing.T) {
		r := runSipp(t, bin, target, "register.xml", "127.0.0.30", "alice", "alice-secret", 10, "-t", "t1")
		assert.Equal(t, 0, r.exit, "sipp exit status\n%s", r.out)
		assert.Equal(t, 10, r.ok, "successful calls\n%s", r.out)
		addr := netip.MustParseAddr("127.0.0.30")
		tb.settle(t, addr, 20)
		assert.False(t, tb.g.Banned(addr))
	})

	t.Run("guesser banned after 5", func(t *testing.T) {
		addr := netip.MustParseAddr("127.0.0.31")
		r := runSipp(t, bin, target, "register_wrong.xml", "127.0.0.31", "bob", "guess", 8, "-t", "t1")
		assert.NotEqual(t, 0, r.exit, "sipp fails once its connection is cut\n%s", r.out)
		assert.Equal(t, 5, r.ok, "403 answers before the ban\n%s", r.out)
		tb.settle(t, addr, 10)
		rec := tb.banned(t, addr)
		assert.Equal(t, detect.BadCredentials, rec.Cause)
		assert.Equal(t, []string{"sipp"}, rec.Evidence.UserAgents)

		r = runSipp(t, bin, target, "register.xml", "127.0.0.31", "bob", "bob-secret", 2, "-t", "t1")
		assert.Equal(t, 0, r.ok, "%s", r.out)
		assert.Equal(t, 10, tb.srv.Handled(addr), "requests from a banned source reached a handler")

		r = runSipp(t, bin, target, "register.xml", "127.0.0.30", "alice", "alice-secret", 2, "-t", "t1")
		assert.Equal(t, 2, r.ok, "the phone still registers\n%s", r.out)
	})
}

// sippResult is what a sipp run reported.
type sippResult struct {
	exit       int // 0: all calls succeeded; 1: some failed
	ok, failed int // cumulative "Successful call" and "Failed call"
	out        string
}

var (
	sippOK     = regexp.MustCompile(`Successful call\s*\|\s*\d+\s*\|\s*(\d+)`)
	sippFailed = regexp.MustCompile(`Failed call\s*\|\s*\d+\s*\|\s*(\d+)`)
)

// runSipp runs scenario (a file in testdata/sipp) from local (an address,
// or address:port; sipp's default port is 5060) to target as account with
// password, calls times, one call at a time. Each response is awaited for
// half a second: longer means the server is silent. extra are more
// arguments, such as the transport.
func runSipp(t *testing.T, bin, target, scenario, local, account, password string, calls int, extra ...string) sippResult {
	t.Helper()
	var port []string
	if ap, err := netip.ParseAddrPort(local); err == nil {
		local, port = ap.Addr().String(), []string{"-p", strconv.Itoa(int(ap.Port()))}
	}
	sf, err := filepath.Abs(filepath.Join("testdata", "sipp", scenario))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, target,
		"-sf", sf,
		"-s", account, "-au", account, "-ap", password,
		"-i", local,
		// One call at a time, 50 ms apart: time for the Guard to judge
		// each answer before the next call.
		"-m", strconv.Itoa(calls), "-l", "1", "-r", "20",
		"-recv_timeout", "500", // ms per expected response
		"-timeout", "30s", // sipp's own bound on the whole run
		"-nostdin",
	)
	cmd.Args = append(append(cmd.Args, port...), extra...)
	cmd.Dir = t.TempDir() // for any file sipp decides to write
	out, err := cmd.CombinedOutput()
	r := sippResult{out: string(out)}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.exit = exit.ExitCode()
	case err != nil:
		t.Fatalf("sipp: %v\n%s", err, out)
	}
	require.NoError(t, ctx.Err(), "sipp ran too long\n%s", out)
	// sipp may print its screens more than once; the last is final.
	m, f := sippOK.FindAllStringSubmatch(r.out, -1), sippFailed.FindAllStringSubmatch(r.out, -1)
	require.NotEmpty(t, m, "no call statistics in sipp's output\n%s", out)
	require.NotEmpty(t, f, "no call statistics in sipp's output\n%s", out)
	r.ok, _ = strconv.Atoi(m[len(m)-1][1])
	r.failed, _ = strconv.Atoi(f[len(f)-1][1])
	return r
}
