package registrar_test

import (
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/internal/registrar"
)

func TestConfigDirectory(t *testing.T) {
	g, err := ban.New(ban.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	dir := registrar.NewDirectory(demoAccounts(t))
	srv, err := registrar.New(registrar.Config{Directory: dir, Guard: g})
	require.NoError(t, err)
	assert.Same(t, dir, srv.Directory())

	_, err = registrar.New(registrar.Config{Directory: dir, Accounts: registrar.Accounts{Test: map[string]bool{}}, Guard: g})
	assert.ErrorContains(t, err, "registrar: Config has both Accounts and a Directory")
}

// TestReload changes a password and deletes an account while the server
// runs: the next requests are checked against the new file.
func TestReload(t *testing.T) {
	t.Parallel()
	tb := start(t)
	c := tb.client(t, "127.0.0.30:0")
	st, err := c.Register(ctx, "alice", "alice-secret")
	require.NoError(t, err)
	require.Equal(t, 200, st)

	a := demoAccounts(t)
	a.Users["alice"] = "new-secret"
	delete(a.Users, "bob")
	before := time.Now()
	changes := tb.srv.Reload(a)
	after := time.Now()
	assert.Equal(t, registrar.Changes{Accounts: len(a.Users), Passwords: 1, Deleted: 1}, changes)

	for _, tt := range []struct {
		account, password string
		want              int
	}{
		{"alice", "alice-secret", 403},
		{"alice", "new-secret", 200},
		{"bob", "bob-secret", 403},
		{"carol", "carol-secret", 200},
	} {
		st, err := c.Register(ctx, tt.account, tt.password)
		require.NoError(t, err)
		assert.Equal(t, tt.want, st, "%s with %q", tt.account, tt.password)
	}
	dir := tb.srv.Directory()
	assert.WithinRange(t, dir.Account("alice").PasswordChanged, before, after)
	assert.WithinRange(t, dir.Account("bob").DeletedAt, before, after)
	assert.True(t, dir.Account("bob").Deleted)
}

// TestReloadWhileServing reloads as fast as it can while two phones
// register and others read the directory: an account the reloads leave
// alone is never refused, and the last reload is the one served. Run it
// with -race.
func TestReloadWhileServing(t *testing.T) {
	t.Parallel()
	tb := start(t)
	// Two files that differ in carol's password and in user40.
	even, odd := demoAccounts(t), demoAccounts(t)
	even.Users["carol"] = "carol-even"
	odd.Users["carol"] = "carol-odd"
	delete(odd.Users, "user40")

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var reloads atomic.Int64
	wg.Go(func() {
		for ; ; reloads.Add(1) {
			select {
			case <-stop:
				return
			default:
			}
			if reloads.Load()%2 == 0 {
				tb.srv.Reload(even)
			} else {
				tb.srv.Reload(odd)
			}
		}
	})
	wg.Go(func() {
		dir := tb.srv.Directory()
		for {
			select {
			case <-stop:
				return
			default:
			}
			assert.True(t, dir.Account("carol").Exists)
			_, ok := dir.Similar("alcie")
			assert.True(t, ok)
		}
	})
	var phones sync.WaitGroup
	for _, local := range []string{"127.0.0.31:0", "127.0.0.32:0"} {
		c := tb.client(t, local)
		phones.Go(func() {
			for range 30 {
				// A reload between each registration and the next,
				// whatever the scheduler does.
				for n := reloads.Load(); reloads.Load() == n; {
					runtime.Gosched()
				}
				st, err := c.Register(ctx, "bob", "bob-secret")
				assert.NoError(t, err)
				assert.Equal(t, 200, st)
			}
		})
	}
	phones.Wait()
	close(stop)
	wg.Wait()
	assert.GreaterOrEqual(t, reloads.Load(), int64(30), "reloads ran while the phones registered")

	last := demoAccounts(t)
	last.Users["carol"] = "carol-last"
	tb.srv.Reload(last)
	c := tb.client(t, "127.0.0.33:0")
	for password, want := range map[string]int{"carol-odd": 403, "carol-last": 200} {
		st, err := c.Register(ctx, "carol", password)
		require.NoError(t, err)
		assert.Equal(t, want, st, password)
	}
}
