package registrar_test

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
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
	addr := c.LocalAddr().Addr()
	tests := []struct {
		name    string
		do      func() (int, error)
		want    int
		checked string // the account whose password was checked, if any
	}{
		{"register", func() (int, error) { return c.Register(ctx, "alice", "alice-secret") }, 200, "alice"},
		{"register challenge", func() (int, error) { return c.Register(ctx, "alice", "") }, 401, ""},
		{"register wrong password", func() (int, error) { return c.Register(ctx, "bob", "nope") }, 403, "bob"},
		{"register unknown", func() (int, error) { return c.Register(ctx, "nobody", "x") }, 403, ""},
		{"register deleted", func() (int, error) { return c.Register(ctx, "olduser", "x") }, 403, ""},
		{"invite", func() (int, error) { return c.Invite(ctx, "alice", "alice-secret", "bob") }, 480, "alice"},
		{"invite challenge", func() (int, error) { return c.Invite(ctx, "alice", "", "bob") }, 407, ""},
		{"invite wrong password", func() (int, error) { return c.Invite(ctx, "alice", "nope", "bob") }, 403, "alice"},
		{"invite unknown caller", func() (int, error) { return c.Invite(ctx, "nobody", "x", "bob") }, 403, ""},
		{"invite unknown callee", func() (int, error) { return c.Invite(ctx, "alice", "alice-secret", "nobody") }, 404, "alice"},
		{"invite deleted callee", func() (int, error) { return c.Invite(ctx, "alice", "alice-secret", "olduser") }, 404, "alice"},
		{"options", func() (int, error) { return c.Options(ctx, "") }, 200, ""},
		{"bye", func() (int, error) { return raw(t, tb.addr, "BYE") }, 481, ""},
		{"cancel", func() (int, error) { return raw(t, tb.addr, "CANCEL") }, 481, ""},
		{"message", func() (int, error) { return raw(t, tb.addr, "MESSAGE") }, 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, beforeAccount := tb.srv.Checked(addr), tb.srv.CheckedAccount(tt.checked)
			got, err := tt.do()
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			if tt.checked == "" {
				assert.Equal(t, before, tb.srv.Checked(addr), "no password checked")
				return
			}
			// Counted before the answer left.
			assert.Equal(t, before+1, tb.srv.Checked(addr), "guesses evaluated from %v", addr)
			assert.Equal(t, beforeAccount+1, tb.srv.CheckedAccount(tt.checked), "guesses evaluated for %s", tt.checked)
		})
	}
	assert.Empty(t, tb.g.Bans(), "single mistakes ban nobody")
	assert.Zero(t, tb.srv.CheckedAccount("nobody"))
	assert.Zero(t, tb.srv.Checked(netip.MustParseAddr("127.0.0.1")), "raw requests carry no credentials")
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
	res, err := exchange(conn, method, "alice")
	if err != nil {
		return 0, err
	}
	return res.StatusCode, nil
}

// exchange sends a minimal out-of-dialog request of method for account on
// conn, with headers ("Name: value") added, and returns its first final
// response.
func exchange(conn net.Conn, method, account string, headers ...string) (*sip.Response, error) {
	target, local := conn.RemoteAddr().String(), conn.LocalAddr().String()
	callID := fmt.Sprintf("raw-%s-%d", method, time.Now().UnixNano())
	req := fmt.Sprintf("%[1]s sip:%[5]s@%[2]s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %[3]s;branch=z9hG4bK-%[4]s;rport\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:%[5]s@%[2]s>;tag=1\r\n"+
		"To: <sip:%[5]s@%[2]s>\r\n"+
		"Call-ID: %[4]s\r\n"+
		"CSeq: 1 %[1]s\r\n", method, target, local, callID, account)
	for _, h := range headers {
		req += h + "\r\n"
	}
	req += "Content-Length: 0\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		return nil, err
	}
	if err := conn.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return nil, err
	}
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return nil, err
		}
		msg, err := sip.ParseMessage(buf[:n])
		if err != nil {
			return nil, err
		}
		// Skip retransmissions of earlier final responses, unacknowledged.
		if res, ok := msg.(*sip.Response); ok && res.CallID() != nil && res.CallID().Value() == callID && res.StatusCode >= 200 {
			return res, nil
		}
	}
}

// dialUDP returns a UDP socket bound to local ("127.0.0.30:0") and
// connected to target, closed when the test ends.
func dialUDP(t *testing.T, local, target string) net.Conn {
	t.Helper()
	conn, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(local)),
		net.UDPAddrFromAddrPort(netip.MustParseAddrPort(target)))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

// challenge sends method for account without credentials on conn and
// returns the digest challenge answered.
func challenge(t *testing.T, conn net.Conn, method, account string) *digest.Challenge {
	t.Helper()
	res, err := exchange(conn, method, account)
	require.NoError(t, err)
	name := "WWW-Authenticate"
	if method != "REGISTER" {
		name = "Proxy-Authenticate"
	}
	h := res.GetHeader(name)
	require.NotNil(t, h, "%s", res)
	chal, err := digest.ParseChallenge(h.Value())
	require.NoError(t, err)
	return chal
}

// authorization answers chal for method with account's credentials made of
// password, as a header line for exchange ("Authorization: Digest ..."),
// over the Request-URI exchange sends to target.
func authorization(t *testing.T, chal *digest.Challenge, target, method, account, password string) string {
	t.Helper()
	cred, err := digest.Digest(chal, digest.Options{Method: method,
		URI: "sip:" + account + "@" + target, Username: account, Password: password})
	require.NoError(t, err)
	name := "Authorization"
	if method != "REGISTER" {
		name = "Proxy-Authorization"
	}
	return name + ": " + cred.String()
}

// TestUnprovenNeverCounts: credentials over a nonce issued to another
// address, or made up, are answered with a stale challenge, never 403, and
// however many come, they ban nobody. The same credentials from the address
// the nonce was issued to get their verdict.
func TestUnprovenNeverCounts(t *testing.T) {
	t.Parallel()
	tb := start(t)
	victim, spoofer := dialUDP(t, "127.0.0.30:0", tb.addr), dialUDP(t, "127.0.0.31:0", tb.addr)
	sent := map[net.Conn]int{}

	// credentials answers a challenge sent to the victim, as the spoofer
	// would if it could read the victim's traffic but not receive at its
	// address.
	credentials := func(method, password string) string {
		t.Helper()
		chal := challenge(t, victim, method, "alice")
		sent[victim]++
		if password == "" {
			chal.Nonce = "made-up"
		}
		return authorization(t, chal, tb.addr, method, "alice", cmp.Or(password, "alice-secret"))
	}
	try := func(t *testing.T, conn net.Conn, method, password string) *sip.Response {
		t.Helper()
		res, err := exchange(conn, method, "alice", credentials(method, password))
		require.NoError(t, err)
		sent[conn]++
		return res
	}

	tests := []struct {
		name     string
		conn     net.Conn
		method   string
		password string // "" for the right one over a made-up nonce
		want     int
	}{
		{"register, right password, another's nonce", spoofer, "REGISTER", "alice-secret", 401},
		{"register, wrong password, another's nonce", spoofer, "REGISTER", "guess", 401},
		{"register, made-up nonce", spoofer, "REGISTER", "", 401},
		{"invite, right password, another's nonce", spoofer, "INVITE", "alice-secret", 407},
		{"invite, wrong password, another's nonce", spoofer, "INVITE", "guess", 407},
		{"invite, made-up nonce", spoofer, "INVITE", "", 407},
		{"register, own nonce", victim, "REGISTER", "alice-secret", 200},
		{"register, own nonce, wrong password", victim, "REGISTER", "guess", 403},
		{"invite, own nonce", victim, "INVITE", "alice-secret", 480},
		{"invite, own nonce, wrong password", victim, "INVITE", "guess", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := try(t, tt.conn, tt.method, tt.password)
			assert.Equal(t, tt.want, res.StatusCode, "%s", res)
			if tt.want != 401 && tt.want != 407 {
				return
			}
			h := res.GetHeader("WWW-Authenticate")
			if tt.method == "INVITE" {
				h = res.GetHeader("Proxy-Authenticate")
			}
			require.NotNil(t, h, "%s", res)
			chal, err := digest.ParseChallenge(h.Value())
			require.NoError(t, err)
			assert.True(t, chal.Stale, "stale: the client may retry without asking its user")
		})
	}

	// Far more wrong passwords than detect's 5 over the victim's nonces.
	for i := range 10 {
		res := try(t, spoofer, []string{"REGISTER", "INVITE"}[i%2], "guess")
		require.Contains(t, []int{401, 407}, res.StatusCode, "%s", res)
	}
	for conn, n := range sent {
		tb.settle(t, netip.MustParseAddrPort(conn.LocalAddr().String()).Addr(), n)
	}
	assert.Empty(t, tb.g.Bans())
}
