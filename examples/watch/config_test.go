package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/detect"
)

// The shipped service file reads as the flags it names, with the policy's
// durations; a flag given on the command line wins.
func TestConfigFile(t *testing.T) {
	cfg := config{table: "sipban"}
	require.NoError(t, loadConfig("dist/watch.toml", &cfg, map[string]bool{"i": true}))
	assert.Equal(t, "", cfg.iface, "-i given on the command line (empty) wins")
	assert.Equal(t, "192.0.2.10:5060,192.0.2.10:5061", cfg.servers)
	assert.Equal(t, "nftables", cfg.enforcer)
	assert.Equal(t, "198.51.100.0/24", cfg.scope.Allow)
	assert.Equal(t, "5060,5061", cfg.scope.Ports)
	assert.Equal(t, "/var/lib/sipban/watch.db", cfg.state)
	assert.Equal(t, "127.0.0.1:8080", cfg.admin)
	assert.Equal(t, 1_000_000, cfg.policy.MaxBans)
	assert.Equal(t, 168*time.Hour, cfg.policy.ForgetAfter)
	assert.Equal(t, map[detect.Cause]time.Duration{detect.Scanner: 24 * time.Hour, detect.BadCredentials: time.Hour}, cfg.policy.BanTime)
	assert.Equal(t, detect.Limit{Threshold: 5, Window: 10 * time.Minute}, cfg.policy.Limits.BadCredentials)
}

// Bad files are refused with what is wrong, by name.
func TestConfigRefuses(t *testing.T) {
	for _, tc := range []struct{ name, file, err string }{
		{"unknown key", "enforcer = \"nftables\"\nenforcr = \"x\"\n[policy]\nmax_banz = 3\n", "unknown keys: enforcr, policy.max_banz"},
		{"unknown cause", "[policy.ban_time]\nscaner = \"1h\"\n", `[policy.ban_time] "scaner"`},
		{"bad duration", "[policy]\nforget_after = \"a week\"\n", "forget_after"},
		{"not TOML", "enforcer = \n", "-config"},
		{"wrong type", "keep = \"yes\"\n", "keep"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "watch.toml")
			require.NoError(t, os.WriteFile(p, []byte(tc.file), 0o600))
			err := loadConfig(p, &config{}, nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.err)
		})
	}
	assert.ErrorContains(t, loadConfig(filepath.Join(t.TempDir(), "none.toml"), &config{}, nil), "no such file")
}
