package registrar_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/detect"
)

// softphone is baresip, a real softphone, configured for one account from
// a fixed port: each run registers once and quits.
type softphone struct {
	bin, dir string
	port     uint16
}

func newSoftphone(t *testing.T, bin, registrar string, port uint16, account, pass string) softphone {
	t.Helper()
	dir := t.TempDir()
	conf := fmt.Sprintf("sip_listen 127.0.0.1:%d\nmodule_path /usr/lib/baresip/modules\nmodule account.so\nmodule g711.so\n", port)
	acct := fmt.Sprintf("<sip:%s@%s;transport=udp>;auth_pass=%s;regint=600\n", account, registrar, pass)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config"), []byte(conf), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "accounts"), []byte(acct), 0o600))
	return softphone{bin: bin, dir: dir, port: port}
}

// run starts baresip, lets it register, and waits for it to quit.
func (s softphone) run(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, s.bin, "-f", s.dir, "-t", "1").CombinedOutput()
	require.NoError(t, ctx.Err(), "baresip ran too long\n%s", out)
	require.NoError(t, err, "%s", out)
	return string(out)
}

// TestBaresip plays misconfigured softphones with baresip next to a
// working baresip at the same address, each run one registration: the
// cause is named, the misconfigured one the suspect, the working one never
// marked and still registering. It runs when SIPBAN_BARESIP is set, and
// then fails rather than skips if baresip is missing.
func TestBaresip(t *testing.T) {
	bin := tools(t, "SIPBAN_BARESIP", "play softphones with baresip", "baresip")[0]
	const good, bad = 5094, 5093
	for _, c := range []struct {
		name, account, pass, want, didYouMean string
		before                                func(tb *testbed)
	}{
		{"password typo", "carol", "Carol-Secret", ban.CauseTypo, "", nil},
		{"account typo", "alcie", password("alice"), ban.CauseTypo, "alice", nil},
		{"password changed", "bob", password("bob"), ban.CauseOutdated, "", func(tb *testbed) {
			a := explainAccounts()
			a.Users["bob"] = "bob-changed"
			tb.srv.Reload(a)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tb := startAccounts(t, ban.Options{}, explainAccounts())
			phone := newSoftphone(t, bin, tb.addr, good, "alice", password("alice"))
			dev := newSoftphone(t, bin, tb.addr, bad, c.account, c.pass)
			out := phone.run(t)
			if c.before != nil {
				dev.run(t) // it works, then the password changes
				c.before(tb)
			}
			for range 5 {
				out = dev.run(t)
			}
			sub := detect.Subject{Prefix: netip.MustParsePrefix("127.0.0.1/32"), Account: c.account}
			wait, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			var rec ban.Record
			var ok bool
			for wait.Err() == nil && !ok {
				rec, ok = tb.g.Record(sub)
				time.Sleep(10 * time.Millisecond)
			}
			require.True(t, ok, "no block on %v; bans %+v\n%s", sub, tb.g.Bans(), out)
			d := rec.Diagnosis
			assert.Equal(t, c.want, d.Cause, d.Summary)
			assert.Equal(t, c.didYouMean, d.DidYouMean)
			var marked []uint16
			for _, dv := range d.Devices {
				assert.True(t, strings.HasPrefix(dv.UserAgent, "baresip"), "%+v", dv)
				if dv.Suspect {
					marked = append(marked, dv.Port)
				}
			}
			assert.Equal(t, []uint16{bad}, marked, "%+v", d.Devices)
			assert.False(t, tb.g.Banned(netip.MustParseAddr("127.0.0.1")))
			out = phone.run(t)
			assert.NotContains(t, out, "403", "the working softphone is refused")
		})
	}
}
