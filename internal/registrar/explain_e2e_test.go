package registrar_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/bantest"
	"github.com/sipban/sipban/internal/registrar"
)

// explainAccounts are the accounts the explanation scenarios play against.
func explainAccounts() registrar.Accounts {
	a := registrar.Accounts{
		Users:   map[string]string{},
		Deleted: map[string]bool{"olduser": true, "lab1": true},
		Test:    map[string]bool{"lab1": true},
	}
	for _, n := range []string{"alice", "bob", "carol", "erin", "frank", "user1", "user2", "user3", "user4"} {
		a.Users[n] = password(n)
	}
	return a
}

// scenario is one misconfigured device (or attacker) next to a healthy
// phone at one address: play drives dev, a real SIP client over UDP, which
// is the device to mark.
type scenario struct {
	name      string
	want      string // the Diagnosis cause
	elsewhere bool   // dev plays from its own address, with no phone beside it
	play      func(t *testing.T, tb *testbed, dev *bantest.Client)
}

func register(t *testing.T, dev *bantest.Client, account, pass string, n int, status int) {
	t.Helper()
	res, err := bantest.HealthyPhone(ctx, dev, account, pass, n)
	require.NoError(t, err)
	require.Equal(t, map[int]int{status: n}, res.Statuses, "%v", res)
}

// changePassword reloads the accounts with account's password changed, or
// the account gone when pass is "".
func changePassword(tb *testbed, account, pass string) {
	a := explainAccounts()
	if pass == "" {
		delete(a.Users, account)
	} else {
		a.Users[account] = pass
	}
	tb.srv.Reload(a)
}

func explainScenarios() []scenario {
	var out []scenario
	for _, acct := range []string{"bob", "carol", "erin"} {
		out = append(out, scenario{"password typo " + acct, ban.CauseTypo, false, func(t *testing.T, tb *testbed, dev *bantest.Client) {
			register(t, dev, acct, "Secret1!", 5, 403)
		}})
	}
	for _, typo := range []string{"alcie", "bbo", "caroll", "frnak"} {
		out = append(out, scenario{"account typo " + typo, ban.CauseTypo, false, func(t *testing.T, tb *testbed, dev *bantest.Client) {
			register(t, dev, typo, "whatever", 5, 403)
		}})
	}
	for _, acct := range []string{"bob", "user1"} {
		out = append(out, scenario{"outdated password " + acct, ban.CauseOutdated, false, func(t *testing.T, tb *testbed, dev *bantest.Client) {
			register(t, dev, acct, password(acct), 1, 200)
			changePassword(tb, acct, "changed-"+acct)
			register(t, dev, acct, password(acct), 5, 403)
		}})
		out = append(out, scenario{"deleted account used before " + acct, ban.CauseOutdated, false, func(t *testing.T, tb *testbed, dev *bantest.Client) {
			register(t, dev, acct, password(acct), 1, 200)
			changePassword(tb, acct, "")
			register(t, dev, acct, password(acct), 5, 403)
		}})
	}
	for _, acct := range []string{"lab1", "olduser", "qa-bench-7"} {
		out = append(out, scenario{"test device " + acct, ban.CauseTestDevice, false, func(t *testing.T, tb *testbed, dev *bantest.Client) {
			register(t, dev, acct, "test", 5, 403)
		}})
	}
	for _, target := range []string{"nobody", "0049301234567"} {
		out = append(out, scenario{"pbx calling " + target, ban.CausePBX, false, func(t *testing.T, tb *testbed, dev *bantest.Client) {
			register(t, dev, "user2", password("user2"), 1, 200)
			res, err := bantest.FloodInvites(ctx, dev, "user2", password("user2"), target, 10)
			require.NoError(t, err)
			require.Equal(t, map[int]int{404: 10}, res.Statuses, "%v", res)
		}})
	}
	for _, acct := range []string{"user3", "user4"} {
		out = append(out, scenario{"call script " + acct, ban.CauseScript, false, func(t *testing.T, tb *testbed, dev *bantest.Client) {
			register(t, dev, acct, password(acct), 1, 200)
			res, err := bantest.FloodInvites(ctx, dev, acct, password(acct), "alice", 70)
			require.NoError(t, err)
			require.Positive(t, res.Statuses[480], "%v", res)
		}})
	}
	out = append(out,
		scenario{"scanner", ban.CauseAttack, true, func(t *testing.T, tb *testbed, dev *bantest.Client) {
			_, err := bantest.Scanner(ctx, dev, 1)
			require.NoError(t, err)
		}},
		scenario{"enumeration", ban.CauseAttack, true, func(t *testing.T, tb *testbed, dev *bantest.Client) {
			_, err := bantest.EnumerateAccounts(ctx, dev, bantest.Names("x", 20))
			require.NoError(t, err)
		}},
		scenario{"guessing", ban.CauseAttack, true, func(t *testing.T, tb *testbed, dev *bantest.Client) {
			_, err := bantest.GuessPasswords(ctx, dev, "bob", 5)
			require.NoError(t, err)
		}},
		scenario{"guessing behind the phone's address", ban.CauseAttack, false, func(t *testing.T, tb *testbed, dev *bantest.Client) {
			for _, a := range []string{"bob", "carol", "erin", "frank"} {
				_, err := bantest.GuessPasswords(ctx, dev, a, 3)
				require.NoError(t, err)
			}
		}},
	)
	return out
}

// Every cause, played by real SIP clients over UDP next to a healthy phone
// at the same address: the cause named is right in every case, the device
// marked, and the healthy phone never marked nor blocked. The confusion
// table is logged.
func TestExplainScenarios(t *testing.T) {
	confusion := map[string]map[string]int{}
	for i, sc := range explainScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			tb := startAccounts(t, ban.Options{}, explainAccounts())
			host := fmt.Sprintf("127.0.0.%d", 60+i)
			devHost := host
			if sc.elsewhere {
				devHost = fmt.Sprintf("127.0.1.%d", 60+i)
			}
			phone := tb.phone(t, host+":0", "alice")
			dev := tb.client(t, devHost+":0")
			sc.play(t, tb, dev)
			// Let the last answers be judged: the phone's next
			// registration comes after them.
			phone.register(t)
			addr := dev.LocalAddr().Addr()
			var recs []ban.Record
			// A request is judged after its answer left: wait for the last.
			wait, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			_ = bantest.WaitUntil(wait, func() bool {
				recs = recs[:0]
				for _, r := range tb.g.Bans() {
					if r.Subject.Prefix.Contains(addr) {
						recs = append(recs, r)
					}
				}
				return len(recs) > 0
			})
			require.Len(t, recs, 1, "records at %v: %+v", addr, tb.g.Bans())
			d := recs[0].Diagnosis
			got := d.Cause
			if confusion[sc.want] == nil {
				confusion[sc.want] = map[string]int{}
			}
			confusion[sc.want][got]++
			assert.Equal(t, sc.want, got, "%s: %s", recs[0].Subject, d.Summary)
			for _, dv := range d.Devices {
				if dv.Port == phone.c.LocalAddr().Port() && !sc.elsewhere {
					assert.False(t, dv.Suspect, "the healthy phone is marked")
				}
			}
			assert.True(t, slices.ContainsFunc(d.Devices, func(dv ban.Device) bool {
				return dv.Suspect && dv.Port == dev.LocalAddr().Port()
			}), "the device is not listed as suspect: %+v", d.Devices)
			phone.register(t) // 200, or it fails
			if !sc.elsewhere {
				assert.False(t, tb.g.Banned(phone.c.LocalAddr().Addr()), "the phone's address is banned")
			}
		})
	}
	var b strings.Builder
	causes := []string{ban.CauseOutdated, ban.CauseTypo, ban.CauseTestDevice, ban.CausePBX, ban.CauseScript, ban.CauseAttack}
	fmt.Fprintf(&b, "%-22s", "played \\ named")
	for _, c := range causes {
		fmt.Fprintf(&b, " %-9.9s", c)
	}
	b.WriteString("\n")
	for _, want := range causes {
		fmt.Fprintf(&b, "%-22s", want)
		for _, got := range causes {
			fmt.Fprintf(&b, " %-9d", confusion[want][got])
		}
		if other := total(confusion[want]) - sumOf(confusion[want], causes); other > 0 {
			fmt.Fprintf(&b, " other: %d", other)
		}
		b.WriteString("\n")
	}
	t.Logf("confusion table, %d scenarios:\n%s", len(explainScenarios()), b.String())
}

func total(m map[string]int) int {
	n := 0
	for v := range maps.Values(m) {
		n += v
	}
	return n
}

func sumOf(m map[string]int, keys []string) int {
	n := 0
	for _, k := range keys {
		n += m[k]
	}
	return n
}
