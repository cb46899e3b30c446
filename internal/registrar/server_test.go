package registrar_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/ban/bantest"
	"github.com/sipban/sipban/internal/registrar"
)

func TestNew(t *testing.T) {
	_, err := registrar.New(registrar.Config{})
	require.ErrorContains(t, err, "registrar: Config.Guard is nil")

	log := slog.New(slog.DiscardHandler)
	g, err := ban.New(ban.Options{Logger: log})
	require.NoError(t, err)
	srv, err := registrar.New(registrar.Config{Guard: g, Logger: log})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, conn) }()
	// Once it answers, it is serving.
	c, err := bantest.Dial(ctx, "127.0.0.1:0", conn.LocalAddr().String())
	require.NoError(t, err)
	defer c.Close()
	st, err := c.Options(ctx, "")
	require.NoError(t, err)
	require.Equal(t, 200, st)

	conn2, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	require.ErrorContains(t, srv.Serve(ctx, conn2), "registrar: Serve called twice")
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
}

func TestAnswers(t *testing.T) {
	t.Parallel()
	tb := start(t)
	c := tb.client(t, "127.0.0.20:0")
	tests := []struct {
		name string
		do   func() (int, error)
		want int
	}{
		{"register", func() (int, error) { return c.Register(ctx, "alice", "alice-secret") }, 200},
		{"register challenge", func() (int, error) { return c.Register(ctx, "alice", "") }, 401},
		{"register wrong password", func() (int, error) { return c.Register(ctx, "bob", "nope") }, 403},
		{"register unknown", func() (int, error) { return c.Register(ctx, "nobody", "x") }, 404},
		{"register deleted", func() (int, error) { return c.Register(ctx, "olduser", "x") }, 404},
		{"invite", func() (int, error) { return c.Invite(ctx, "alice", "alice-secret", "bob") }, 480},
		{"invite challenge", func() (int, error) { return c.Invite(ctx, "alice", "", "bob") }, 407},
		{"invite wrong password", func() (int, error) { return c.Invite(ctx, "alice", "nope", "bob") }, 403},
		{"invite unknown caller", func() (int, error) { return c.Invite(ctx, "nobody", "x", "bob") }, 403},
		{"invite unknown callee", func() (int, error) { return c.Invite(ctx, "alice", "alice-secret", "nobody") }, 404},
		{"invite deleted callee", func() (int, error) { return c.Invite(ctx, "alice", "alice-secret", "olduser") }, 404},
		{"options", func() (int, error) { return c.Options(ctx, "") }, 200},
		{"bye", func() (int, error) { return raw(t, tb.addr, "BYE") }, 481},
		{"cancel", func() (int, error) { return raw(t, tb.addr, "CANCEL") }, 481},
		{"message", func() (int, error) { return raw(t, tb.addr, "MESSAGE") }, 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.do()
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	assert.Empty(t, tb.g.Bans(), "single mistakes ban nobody")
}

// raw sends a minimal out-of-dialog request of method and returns the
// status of the first response.
func raw(t *testing.T, target, method string) (int, error) {
	t.Helper()
	conn, err := net.Dial("udp", target)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	local := conn.LocalAddr().String()
	req := fmt.Sprintf("%[1]s sip:alice@%[2]s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %[3]s;branch=z9hG4bK%[1]s%[4]d;rport\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:bob@%[2]s>;tag=1\r\n"+
		"To: <sip:alice@%[2]s>;tag=2\r\n"+
		"Call-ID: raw-%[1]s-%[4]d\r\n"+
		"CSeq: 1 %[1]s\r\n"+
		"Content-Length: 0\r\n\r\n", method, target, local, time.Now().UnixNano())
	if _, err := conn.Write([]byte(req)); err != nil {
		return 0, err
	}
	if err := conn.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return 0, err
	}
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(buf[:n]))
	if len(f) < 2 {
		return 0, fmt.Errorf("short response %q", buf[:n])
	}
	return strconv.Atoi(f[1])
}
