package registrar_test

import (
	"context"
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

// TestSipvicious attacks the registrar with SIPVicious, the tool most SIP
// attacks in the wild come from: svcrack guessing bob's password with a
// dictionary that holds it, and svwar enumerating extensions, from an
// address of their own and from the address where a phone works (each
// against a registrar of its own; they send from 127.0.0.1 whatever -b
// says). It runs
// when SIPBAN_SIPVICIOUS is set, and then fails rather than skips if the
// tools are missing.
func TestSipvicious(t *testing.T) {
	sv := tools(t, "SIPBAN_SIPVICIOUS", "attack the registrar with SIPVicious", "svcrack", "svwar")
	svcrack, svwar := sv[0], sv[1]

	// The dictionary holds bob's password after ten wrong ones.
	dict := filepath.Join(t.TempDir(), "dict.txt")
	words := guessList(30, password("bob"))
	require.NoError(t, os.WriteFile(dict, []byte(strings.Join(words, "\n")+"\n"), 0o600))

	for _, c := range []struct {
		name, from string
		phone      bool // a phone logs in from the same address first
		tool       func(target netip.AddrPort, from string) []string
	}{
		{"svcrack", "127.0.0.1", false, func(tg netip.AddrPort, from string) []string {
			return []string{svcrack, "-u", "bob", "-d", dict, "-b", from, "-p", port(tg), tg.Addr().String()}
		}},
		{"svcrack behind the phone's address", "127.0.0.1", true, func(tg netip.AddrPort, from string) []string {
			return []string{svcrack, "-u", "bob", "-d", dict, "-b", from, "-p", port(tg), tg.Addr().String()}
		}},
		{"svwar", "127.0.0.1", false, func(tg netip.AddrPort, from string) []string {
			return []string{svwar, "-e", "100-160", "-m", "REGISTER", "-b", from, "-p", port(tg), tg.Addr().String()}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tb := start(t)
			from := netip.MustParseAddr(c.from)
			var ph *phone
			if c.phone {
				ph = tb.phone(t, c.from+":0", "alice")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			args := c.tool(netip.MustParseAddrPort(tb.addr), c.from)
			cmd := exec.CommandContext(ctx, args[0], args[1:]...)
			cmd.Dir = t.TempDir()
			out, _ := cmd.CombinedOutput() // it exits non-zero when nothing is found
			require.NoError(t, ctx.Err(), "%s ran too long\n%s", c.name, out)
			assert.NotContains(t, string(out), password("bob"), "the password was found\n%s", out)
			assert.LessOrEqual(t, tb.srv.CheckedAccount("bob"), 10, "passwords checked")

			var recs []ban.Record
			for _, r := range tb.g.Bans() {
				if r.Subject.Prefix.Contains(from) {
					recs = append(recs, r)
				}
			}
			if !c.phone {
				require.NotEmpty(t, recs, "no record at %v\n%s", from, out)
			}
			// Behind the phone's address the scanner's first datagram,
			// unproven, is dropped without a record: svcrack hears
			// nothing and gives up having had no password checked.
			for _, r := range recs {
				assert.Equal(t, ban.CauseAttack, r.Diagnosis.Cause, "%s %s", r.Subject, r.Diagnosis.Summary)
				assert.True(t, hasSuspect(r.Diagnosis.Devices), "%+v", r.Diagnosis.Devices)
			}
			if ph != nil {
				ph.register(t)
				assert.False(t, tb.g.Banned(from), "the phone's address is banned")
				for _, r := range recs {
					for _, d := range r.Diagnosis.Devices {
						if d.Port == ph.c.LocalAddr().Port() {
							assert.False(t, d.Suspect, "the phone is marked")
						}
					}
				}
			} else {
				assert.True(t, tb.g.Banned(from))
			}
			t.Logf("%s: %d passwords checked for bob; records %v", c.name, tb.srv.CheckedAccount("bob"), subjectsOf(recs))
		})
	}
}

func port(ap netip.AddrPort) string { return strings.TrimPrefix(ap.String(), ap.Addr().String()+":") }

func hasSuspect(ds []ban.Device) bool {
	for _, d := range ds {
		if d.Suspect {
			return true
		}
	}
	return false
}

func subjectsOf(rs []ban.Record) []detect.Subject {
	out := make([]detect.Subject, len(rs))
	for i, r := range rs {
		out[i] = r.Subject
	}
	return out
}
