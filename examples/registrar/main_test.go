package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRunRefuses checks the configurations run must refuse before serving.
func TestRunRefuses(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "users.txt")
	require.NoError(t, os.WriteFile(bad, []byte("alice:a\nalice:b\n"), 0o600))
	tests := []struct {
		name     string
		users    string
		admin    string
		enforcer string
		table    string
		err      string
	}{
		{"unknown enforcer", "", "", "ipfw", "sipban", `-enforcer ipfw: unknown enforcer "ipfw"`},
		{"missing users file", filepath.Join(t.TempDir(), "none.txt"), "", "memory", "", "no such file"},
		{"bad users file", bad, "", "memory", "", "registrar: users line 2"},
		{"bad table name", "", "", "nftables", "bad name", `-enforcer nftables: nftables: table name "bad name"`},
		{"bad admin address", "", "127.0.0.1:notaport", "memory", "", "127.0.0.1:notaport"},
	}
	log := slog.New(slog.DiscardHandler)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), log, config{listen: "127.0.0.1:0", users: tt.users, realm: "sipban.local", admin: tt.admin, enforcer: tt.enforcer, table: tt.table})
			require.ErrorContains(t, err, tt.err)
		})
	}
}
