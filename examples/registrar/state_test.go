package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/banhttp"
	"github.com/sipban/sipban/ban/bantest"
)

// TestStateSurvivesSIGKILL runs the built registrar as an operator does,
// with its state file: guessers are banned, one of them twice; the process
// is killed with SIGKILL once its state store has nothing pending; started
// again on the same file it holds every ban with its evidence and level, the
// banned sources still get no answer, and the repeat offender's next ban is
// longer still.
func TestStateSurvivesSIGKILL(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state.db")
	users := filepath.Join(dir, "users.txt")
	var accounts strings.Builder
	for i := range 10 {
		fmt.Fprintf(&accounts, "user%d:secret-%d\n", i, i)
	}
	require.NoError(t, os.WriteFile(users, []byte(accounts.String()), 0o600))
	args := []string{"-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-ban-local", "-state", state, "-users", users}
	p := startBinary(t, args...)
	admin := p.admin(t)
	ctx := context.Background()
	// Each source guesses its own account's password.
	guess := func(p *process, from string, n int) {
		t.Helper()
		d := bantest.Dialer{Timeout: 300 * time.Millisecond}
		c, err := d.Dial(ctx, from+":0", p.addr)
		require.NoError(t, err)
		defer c.Close()
		a, _ := netip.ParseAddr(from)
		for i := range n {
			st, err := c.Register(ctx, fmt.Sprint("user", a.As4()[3]-10), "wrong")
			require.NoError(t, err, "guess %d from %s", i+1, from)
			require.Equal(t, 403, st)
		}
	}
	for i := range 10 {
		guess(p, fmt.Sprint("127.0.0.", 10+i), 5)
	}
	repeat := "127.0.0.10"
	del, err := http.NewRequest(http.MethodDelete, "http://"+admin+"/bans/"+repeat, nil)
	require.NoError(t, err)
	res, err := http.DefaultClient.Do(del)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusNoContent, res.StatusCode)
	guess(p, repeat, 5)
	before := records(t, admin)
	require.Len(t, before, 11, "ten bans, and user0 guarded: ten guesses in a day")
	levels := map[string]int{}
	for _, r := range before {
		levels[r.Subject.String()] = r.Level
	}
	assert.Equal(t, 1, levels[repeat])
	stored(t, admin)

	require.NoError(t, p.cmd.Process.Kill())
	<-p.done

	p = startBinary(t, args...)
	admin = p.admin(t)
	p.waitLog(t, `msg="registrar: state restored" file=`+state+` records=11`, 1)
	assert.Equal(t, before, records(t, admin), "every ban back, with its evidence and level")
	d := bantest.Dialer{Timeout: 300 * time.Millisecond}
	c, err := d.Dial(ctx, "127.0.0.15:0", p.addr)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Options(ctx, "ping")
	assert.Error(t, err, "a banned source got an answer after the restart")

	// Lifted once more, the repeat offender is banned at level 2.
	del, err = http.NewRequest(http.MethodDelete, "http://"+admin+"/bans/"+repeat, nil)
	require.NoError(t, err)
	res, err = http.DefaultClient.Do(del)
	require.NoError(t, err)
	res.Body.Close()
	// user0 is guarded: its guesses are refused unchecked, and banned
	// sooner than five.
	c, err = d.Dial(ctx, repeat+":0", p.addr)
	require.NoError(t, err)
	defer c.Close()
	for range 5 {
		if _, err := c.Register(ctx, "user0", "wrong"); err != nil {
			break
		}
	}
	level := -1
	for _, r := range records(t, admin) {
		if r.Subject.String() == repeat {
			level = r.Level
		}
	}
	assert.Equal(t, 2, level, "the offence history survived the kill")
}

// TestCountsSurviveSIGKILL: a guesser's four wrong passwords, a SIGKILL,
// and its fifth after the restart is the one that bans it, as if the
// registrar had never stopped; without the counts kept it would have had
// five more answers.
func TestCountsSurviveSIGKILL(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state.db")
	users := filepath.Join(dir, "users.txt")
	require.NoError(t, os.WriteFile(users, []byte("user1:secret-1\n"), 0o600))
	args := []string{"-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-ban-local", "-state", state, "-users", users}
	ctx := context.Background()
	register := func(p *process, n int) (answered int) {
		t.Helper()
		d := bantest.Dialer{Timeout: 300 * time.Millisecond}
		c, err := d.Dial(ctx, "127.0.0.40:0", p.addr)
		require.NoError(t, err)
		defer c.Close()
		for range n {
			st, err := c.Register(ctx, "user1", "wrong")
			if errors.Is(err, bantest.ErrNoAnswer) {
				return answered
			}
			require.NoError(t, err)
			require.Equal(t, 403, st)
			answered++
		}
		return answered
	}
	p := startBinary(t, args...)
	admin := p.admin(t)
	require.Equal(t, 4, register(p, 4))
	stored(t, admin)
	require.NoError(t, p.cmd.Process.Kill())
	<-p.done

	p = startBinary(t, args...)
	p.admin(t)
	p.waitLog(t, `msg="sipban: restored" records=0 address_bans=0 left=0 failures=4`, 1)
	assert.Equal(t, 1, register(p, 5), "answers after the restart")
}

// admin is the operator API's address, from the log.
func (p *process) admin(t *testing.T) string {
	t.Helper()
	p.waitLog(t, `msg="registrar: serving HTTP" for=operator`, 1)
	addr := ""
	for _, m := range servingHTTP.FindAllStringSubmatch(p.logs.String(), -1) {
		if m[1] == "operator" {
			addr = m[2]
		}
	}
	return addr
}

// records lists the registrar's records with what a process sees live (the
// devices registering, the refusals counted) left out.
func records(t *testing.T, admin string) []ban.Record {
	t.Helper()
	res, err := http.Get("http://" + admin + "/bans")
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	var rs []ban.Record
	require.NoError(t, json.NewDecoder(res.Body).Decode(&rs))
	for i := range rs {
		rs[i].Blocked = 0
		rs[i].Diagnosis.Devices = nil
	}
	return rs
}

// stored waits until the registrar's state store has nothing pending.
func stored(t *testing.T, admin string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, bantest.WaitUntil(ctx, func() bool {
		res, err := http.Get("http://" + admin + "/stats")
		if err != nil {
			return false
		}
		defer res.Body.Close()
		var st banhttp.Stats
		return json.NewDecoder(res.Body).Decode(&st) == nil && st.Store.Batches > 0 && st.Store.Pending == 0
	}))
}
