package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/internal/netnstest"
)

// TestCapabilities runs the built watch as sipban-watch.service does: as
// an unprivileged user whose only capability is CAP_NET_ADMIN (setpriv
// stands in for systemd's AmbientCapabilities). It replays a capture, bans
// in nftables and keeps its state file; without the capability it says
// why it cannot.
func TestCapabilities(t *testing.T) {
	netnstest.Require(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Fatalf("setpriv (util-linux) is needed: %v", err)
	}
	dir := t.TempDir()
	require.NoError(t, os.Chmod(filepath.Dir(dir), 0o755)) // the test's own, made 0700
	require.NoError(t, os.Chmod(dir, 0o777))
	bin := filepath.Join(dir, "sipban-watch")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	capture, err := filepath.Abs("testdata/guesser.pcapng")
	require.NoError(t, err)
	watch := func(caps string) (string, error) {
		args := []string{"--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all" + caps, "--ambient-caps=-all" + caps, "--bounding-set=-all" + caps,
			bin, "-r", capture, "-ban-local", "-enforcer", "nftables", "-table", "capcheck", "-keep", "-state", filepath.Join(dir, "watch.db")}
		out, err := exec.Command("setpriv", args...).CombinedOutput()
		return string(out), err
	}
	out2, err := watch("")
	assert.Error(t, err, "ran without CAP_NET_ADMIN:\n%s", out2)
	assert.Contains(t, out2, "operation not permitted")

	out2, err = watch(",+net_admin")
	require.NoError(t, err, "%s", out2)
	assert.Contains(t, out2, "; 2 bans")
	ruleset, err := exec.Command("nft", "list", "table", "inet", "capcheck").CombinedOutput()
	require.NoError(t, err, "%s", ruleset)
	assert.Contains(t, string(ruleset), "127.0.0.21")
	st, err := os.Stat(filepath.Join(dir, "watch.db"))
	require.NoError(t, err)
	assert.Positive(t, st.Size())
	_ = exec.Command("nft", "delete", "table", "inet", "capcheck").Run()
}
