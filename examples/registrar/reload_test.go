package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/ban/bantest"
	"github.com/sipban/sipban/internal/syncbuf"
)

// TestSIGHUP runs the built registrar as an operator does: a phone
// registers, the operator changes its password in the users file and sends
// SIGHUP, and the same process refuses the old password and accepts the new
// one. A file that does not parse, and an empty one, are logged and leave
// the accounts as they were. SIGTERM stops it.
func TestSIGHUP(t *testing.T) {
	users := filepath.Join(t.TempDir(), "users.txt")
	write := func(s string) { require.NoError(t, os.WriteFile(users, []byte(s), 0o600)) }
	write("alice:alice-secret\nbob:bob-secret\n")
	p := startBinary(t, "-listen", "127.0.0.1:0", "-admin", "", "-users", users)
	register := func(password string) int {
		t.Helper()
		st, err := p.client(t).Register(context.Background(), "alice", password)
		require.NoError(t, err)
		return st
	}
	require.Equal(t, 200, register("alice-secret"))

	write("# alice's phone was lost\nalice:new-secret\nbob:bob-secret\n")
	p.signal(t, syscall.SIGHUP)
	p.waitLog(t, "registrar: reloaded accounts", 1)
	assert.Contains(t, p.logs.String(), "accounts=2 added=0 passwords_changed=1 deleted=0")
	assert.Equal(t, 403, register("alice-secret"), "the old password")
	assert.Equal(t, 200, register("new-secret"), "the new password")

	for i, bad := range []struct{ file, err string }{
		{"alice:one\nalice:two\n", "registrar: users line 2: account \\\"alice\\\" listed twice"},
		{"", "no active account in the file"},
	} {
		write(bad.file)
		p.signal(t, syscall.SIGHUP)
		p.waitLog(t, "registrar: reload failed; the accounts read before stay", i+1)
		assert.Contains(t, p.logs.String(), bad.err)
		assert.Equal(t, 200, register("new-secret"), "still the accounts read before")
	}
	p.stop(t, syscall.SIGTERM)
}

// TestSIGHUPDemoUsers: with the built-in accounts there is no file to read
// again; SIGHUP says so and the registrar serves on. SIGINT stops it.
func TestSIGHUPDemoUsers(t *testing.T) {
	p := startBinary(t, "-listen", "127.0.0.1:0", "-admin", "")
	p.signal(t, syscall.SIGHUP)
	p.waitLog(t, "registrar: SIGHUP: no -users file to re-read; the demo accounts stay", 1)
	st, err := p.client(t).Register(context.Background(), "alice", "alice-secret")
	require.NoError(t, err)
	assert.Equal(t, 200, st)
	p.stop(t, os.Interrupt)
}

// process is the registrar binary running.
type process struct {
	cmd  *exec.Cmd
	logs *syncbuf.Buffer // its standard error
	done chan struct{}   // closed once it has exited
	err  error           // Wait's, once done is closed
	addr string          // the SIP address it serves
}

var servingSIP = regexp.MustCompile(`msg="registrar: serving SIP" udp=(\S+)`)

// startBinary builds the registrar and runs it with args until it serves
// SIP; the test's end kills it if it still runs.
func startBinary(t *testing.T, args ...string) *process {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "registrar")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	p := &process{cmd: exec.Command(bin, args...), logs: new(syncbuf.Buffer), done: make(chan struct{})}
	p.cmd.Stderr = p.logs
	p.cmd.Dir = t.TempDir() // where the default -state goes
	require.NoError(t, p.cmd.Start())
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("registrar log:\n%s", p.logs)
		}
	})
	p.waitLog(t, `msg="registrar: serving SIP"`, 1)
	p.addr = servingSIP.FindStringSubmatch(p.logs.String())[1]
	return p
}

// waitLog waits until the log holds line n times, failing if the process
// exits first or 10 s pass.
func (p *process) waitLog(t *testing.T, line string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := bantest.WaitUntil(ctx, func() bool {
		select {
		case <-p.done:
			cancel()
		default:
		}
		return strings.Count(p.logs.String(), line) >= n
	})
	require.NoError(t, err, "waiting for %q ×%d", line, n)
}

// client dials the registrar from loopback, which it never bans.
func (p *process) client(t *testing.T) *bantest.Client {
	t.Helper()
	d := bantest.Dialer{Timeout: 2 * time.Second}
	c, err := d.Dial(context.Background(), "127.0.0.1:0", p.addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// signal sends sig to the process, which must still run.
func (p *process) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	select {
	case <-p.done:
		t.Fatalf("the registrar exited: %v", p.err)
	default:
	}
	require.NoError(t, p.cmd.Process.Signal(sig))
}

// stop sends sig and waits for a clean exit.
func (p *process) stop(t *testing.T, sig os.Signal) {
	t.Helper()
	p.signal(t, sig)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("still running 10 s after %v", sig)
	}
	require.NoError(t, p.err)
	assert.Contains(t, p.logs.String(), "registrar: shut down")
}
