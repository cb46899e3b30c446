package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/internal/kernel"
)

// TestRunRefuses checks the configurations run must refuse before serving.
func TestRunRefuses(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "users.txt")
	require.NoError(t, os.WriteFile(bad, []byte("alice:a\nalice:b\n"), 0o600))
	foreign := filepath.Join(t.TempDir(), "notes.txt")
	require.NoError(t, os.WriteFile(foreign, []byte("not a state file\n"), 0o600))
	tests := []struct {
		name     string
		users    string
		admin    string
		portal   string
		enforcer string
		table    string
		scope    kernel.Flags
		err      string
		state    string
	}{
		{"unknown enforcer", "", "", "", "ipfw", "sipban", kernel.Flags{}, `-enforcer ipfw: unknown enforcer "ipfw"`, ""},
		{"missing users file", filepath.Join(t.TempDir(), "none.txt"), "", "", "memory", "", kernel.Flags{}, "no such file", ""},
		{"bad users file", bad, "", "", "memory", "", kernel.Flags{}, "registrar: users line 2", ""},
		{"bad table name", "", "", "", "nftables", "bad name", kernel.Flags{}, `-enforcer nftables: nftables: table name "bad name"`, ""},
		{"bad admin address", "", "127.0.0.1:notaport", "", "memory", "", kernel.Flags{}, "127.0.0.1:notaport", ""},
		{"bad portal address", "", "127.0.0.1:0", "127.0.0.1:notaport", "memory", "", kernel.Flags{}, "-portal 127.0.0.1:notaport", ""},
		{"bad allow item", "", "", "", "memory", "", kernel.Flags{Allow: "192.0.2.7,192.0.2.300"}, `-allow: "192.0.2.300" is neither an address nor a prefix`, ""},
		{"bad port", "", "", "", "nftables", "", kernel.Flags{Ports: "5060,99999"}, `-ports: "99999" is not a port`, ""},
		{"ports and all ports", "", "", "", "nftables", "", kernel.Flags{Ports: "5060", AllPorts: true}, "-ports 5060 and -all-ports: give one", ""},
		{"foreign state file", "", "", "", "memory", "", kernel.Flags{}, "-state: banbolt: open " + foreign + ": banbolt: not a sipban store", foreign},
	}
	log := slog.New(slog.DiscardHandler)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), log, config{listen: "127.0.0.1:0", users: tt.users, realm: "sipban.local", admin: tt.admin, portal: tt.portal, enforcer: tt.enforcer, table: tt.table, scope: tt.scope, state: tt.state})
			require.ErrorContains(t, err, tt.err)
		})
	}
}
