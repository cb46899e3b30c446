package main

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/ban/bantest"
	"github.com/sipban/sipban/internal/redistest"
)

// TestFleet runs three built registrars as three edges of one service,
// sharing a real redis-server (SIPBAN_REDIS=1): a guesser banned on one
// edge gets no answer from the others; one spreading its guesses over the
// edges is banned everywhere sooner than any edge alone would; and after
// Redis restarts, empty, a ban still reaches every edge.
func TestFleet(t *testing.T) {
	rs := redistest.Start(t)
	var edges []*process
	var admins []string
	for range 3 {
		p := startBinary(t, "-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-ban-local", "-state", "", "-redis", rs.Addr)
		p.waitLog(t, `msg="registrar: sharing bans with the fleet"`, 1)
		edges, admins = append(edges, p), append(admins, p.admin(t))
	}
	ctx := context.Background()
	d := bantest.Dialer{Timeout: 300 * time.Millisecond}
	// guess sends one wrong password from from to edge e, and reports
	// whether it was answered. Each source guesses an account of its own.
	account := map[string]string{"127.0.0.40": "alice", "127.0.0.41": "bob", "127.0.0.42": "carol"}
	guess := func(from string, e int) bool {
		t.Helper()
		c, err := d.Dial(ctx, from+":0", edges[e].addr)
		require.NoError(t, err)
		defer c.Close()
		_, err = c.Register(ctx, account[from], "wrong")
		return err == nil
	}
	held := func(e int, sub string) bool {
		res, err := http.Get("http://" + admins[e] + "/bans/" + sub)
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	}
	everywhere := func(sub string) {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		require.NoError(t, bantest.WaitUntil(wctx, func() bool { return held(0, sub) && held(1, sub) && held(2, sub) }), "%s not banned on every edge", sub)
	}

	for range 5 {
		require.True(t, guess("127.0.0.40", 0))
	}
	everywhere("127.0.0.40")
	assert.False(t, guess("127.0.0.40", 2), "another edge answered a source banned on the first")

	// One guess per edge in turn, 50 ms apart: each edge alone would ban
	// at its fifth. An edge learns the others' counts with its own (one
	// flush interval, 5 ms, and a round trip late), so a faster guesser
	// gets about as many more guesses as it makes in that time.
	answered := 0
	for i := 0; i < 15 && guess("127.0.0.41", i%3); i++ {
		answered++
		time.Sleep(50 * time.Millisecond)
	}
	everywhere("127.0.0.41")
	assert.Less(t, answered, 9, "the fleet let through as many guesses as three edges alone")
	t.Logf("the spread guesser had %d guesses answered", answered)

	rs.Stop()
	rs.Start()
	for i := range 5 {
		require.True(t, guess("127.0.0.42", 2), fmt.Sprint("guess ", i+1))
	}
	everywhere("127.0.0.42")
}
