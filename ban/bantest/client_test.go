package bantest

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	testRealm    = "test.local"
	testNonce    = "nonce-1"
	testPassword = "secret"
)

// fake serves SIP on 127.0.0.1 with sipgo's parser, so that every request a
// Client builds must parse, and answers with what respond returns.
type fake struct {
	addr string
	got  chan *sip.Request
}

func startFake(t *testing.T, respond func(*sip.Request) []*sip.Response) *fake {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	f := &fake{addr: conn.LocalAddr().String(), got: make(chan *sip.Request, 100)}
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			msg, err := sip.ParseMessage(append([]byte(nil), buf[:n]...))
			req, ok := msg.(*sip.Request)
			if err != nil || !ok {
				t.Errorf("fake server: unreadable request: %v\n%s", err, buf[:n])
				continue
			}
			req.SetSource(from.String())
			f.got <- req
			for _, res := range respond(req) {
				_, _ = conn.WriteTo([]byte(res.String()), from)
			}
		}
	}()
	return f
}

// requests returns the requests the fake has received so far.
func (f *fake) requests() []*sip.Request {
	var out []*sip.Request
	for {
		select {
		case r := <-f.got:
			out = append(out, r)
		default:
			return out
		}
	}
}

func methods(reqs []*sip.Request) []string {
	var out []string
	for _, r := range reqs {
		out = append(out, string(r.Method))
	}
	return out
}

// authServer answers requests without credentials with a challenge (401 or
// 407), those with good credentials with final and others with 403.
func authServer(t *testing.T, challenge, final int) func(*sip.Request) []*sip.Response {
	t.Helper()
	ask, answer := "WWW-Authenticate", "Authorization"
	if challenge == 407 {
		ask, answer = "Proxy-Authenticate", "Proxy-Authorization"
	}
	return func(req *sip.Request) []*sip.Response {
		switch req.Method {
		case sip.ACK:
			return nil
		case sip.BYE:
			return []*sip.Response{sip.NewResponseFromRequest(req, 200, "OK", nil)}
		}
		h := req.GetHeader(answer)
		if h == nil {
			res := sip.NewResponseFromRequest(req, challenge, "Auth", nil)
			chal := digest.Challenge{Realm: testRealm, Nonce: testNonce, Algorithm: "MD5", QOP: []string{"auth"}}
			res.AppendHeader(sip.NewHeader(ask, chal.String()))
			return []*sip.Response{res}
		}
		cred, err := digest.ParseCredentials(h.Value())
		if err != nil || cred.URI != req.Recipient.String() {
			t.Errorf("credentials %q for %s", h.Value(), req.Recipient.String())
			return nil
		}
		want, _ := digest.Digest(&digest.Challenge{Realm: testRealm, Nonce: testNonce, Algorithm: "MD5", QOP: []string{"auth"}},
			digest.Options{Method: string(req.Method), URI: cred.URI, Username: cred.Username, Password: testPassword, Cnonce: cred.Cnonce, Count: cred.Nc})
		if cred.Response != want.Response {
			return []*sip.Response{sip.NewResponseFromRequest(req, 403, "Forbidden", nil)}
		}
		res := sip.NewResponseFromRequest(req, final, "Final", nil)
		res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "uas", Host: "127.0.0.1", Port: 5999}})
		return []*sip.Response{res}
	}
}

func status(code int) func(*sip.Request) []*sip.Response {
	return func(req *sip.Request) []*sip.Response {
		return []*sip.Response{sip.NewResponseFromRequest(req, code, "Status", nil)}
	}
}

func dial(t *testing.T, target string) *Client {
	t.Helper()
	d := Dialer{Timeout: 300 * time.Millisecond, UserAgent: "test-phone"}
	c, err := d.Dial(context.Background(), "127.0.0.1:0", target)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestRegister(t *testing.T) {
	tests := []struct {
		name     string
		respond  func(*sip.Request) []*sip.Response
		password string
		want     int
		wantErr  error
		methods  []string
	}{
		{"accepted at once", status(200), testPassword, 200, nil, []string{"REGISTER"}},
		{"challenge answered", authServer(t, 401, 200), testPassword, 200, nil, []string{"REGISTER", "REGISTER"}},
		{"proxy challenge answered", authServer(t, 407, 200), testPassword, 200, nil, []string{"REGISTER", "REGISTER"}},
		{"wrong password", authServer(t, 401, 200), "wrong", 403, nil, []string{"REGISTER", "REGISTER"}},
		{"challenge left unanswered", authServer(t, 401, 200), "", 401, nil, []string{"REGISTER"}},
		{"unknown account", status(404), testPassword, 404, nil, []string{"REGISTER"}},
		{"silence", func(*sip.Request) []*sip.Response { return nil }, testPassword, 0, ErrNoAnswer, []string{"REGISTER"}},
		{"provisional and strays skipped", func(req *sip.Request) []*sip.Response {
			stray := sip.NewResponseFromRequest(req, 200, "OK", nil)
			callID := sip.CallIDHeader("another-call")
			stray.ReplaceHeader(&callID)
			return []*sip.Response{
				sip.NewResponseFromRequest(req, 100, "Trying", nil),
				stray,
				sip.NewResponseFromRequest(req, 486, "Busy Here", nil),
			}
		}, testPassword, 486, nil, []string{"REGISTER"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFake(t, tt.respond)
			c := dial(t, f.addr)
			got, err := c.Register(context.Background(), "alice", tt.password)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tt.want, got)
			reqs := f.requests()
			assert.Equal(t, tt.methods, methods(reqs))
			for _, r := range reqs {
				assert.Equal(t, "alice", r.To().Address.User)
				assert.Equal(t, "test-phone", r.GetHeader("User-Agent").Value())
				assert.Equal(t, c.LocalAddr().String(), r.Source())
			}
			if len(reqs) == 2 {
				assert.Equal(t, reqs[0].CallID().Value(), reqs[1].CallID().Value(), "a retry keeps the Call-ID")
				assert.Greater(t, reqs[1].CSeq().SeqNo, reqs[0].CSeq().SeqNo)
			}
		})
	}
}

func TestInvite(t *testing.T) {
	tests := []struct {
		name    string
		respond func(*sip.Request) []*sip.Response
		want    int
		methods []string
		byeTo   string // Request-URI user of the BYE
	}{
		{"challenge then refused", authServer(t, 407, 480), 480, []string{"INVITE", "ACK", "INVITE", "ACK"}, ""},
		{"answered without Contact", status(200), 200, []string{"INVITE", "ACK", "BYE"}, "bob"},
		{"challenged and answered", authServer(t, 407, 200), 200, []string{"INVITE", "ACK", "INVITE", "ACK", "BYE"}, "uas"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFake(t, tt.respond)
			c := dial(t, f.addr)
			got, err := c.Invite(context.Background(), "alice", testPassword, "bob")
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			// The last ACK or BYE may still be on its way.
			var reqs []*sip.Request
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = WaitUntil(ctx, func() bool {
				reqs = append(reqs, f.requests()...)
				return len(reqs) >= len(tt.methods)
			})
			require.Equal(t, tt.methods, methods(reqs))
			lastInvite := 0
			for i, r := range reqs {
				if r.Method == sip.INVITE {
					lastInvite = i
				}
			}
			for i, r := range reqs {
				assert.Equal(t, reqs[0].CallID().Value(), r.CallID().Value())
				if r.Method != sip.ACK {
					continue
				}
				inv := reqs[i-1]
				require.Equal(t, sip.INVITE, inv.Method)
				branch, _ := inv.Via().Params.Get("branch")
				ackBranch, _ := r.Via().Params.Get("branch")
				if i-1 == lastInvite && tt.want < 300 {
					assert.NotEqual(t, branch, ackBranch, "the ACK to a 2xx is a transaction of its own")
				} else {
					assert.Equal(t, branch, ackBranch, "the ACK to a non-2xx belongs to the INVITE's transaction")
				}
				assert.Equal(t, inv.CSeq().SeqNo, r.CSeq().SeqNo)
				assert.True(t, r.To().Params.Has("tag"), "ACK %d carries the To tag", i)
			}
			if last := reqs[len(reqs)-1]; last.Method == sip.BYE {
				assert.Equal(t, tt.byeTo, last.Recipient.User, "BYE goes to the Contact, if any")
				assert.True(t, last.To().Params.Has("tag"))
			}
		})
	}
}

func TestOptions(t *testing.T) {
	f := startFake(t, status(200))
	c := dial(t, f.addr)
	for _, user := range []string{"", "100"} {
		got, err := c.Options(context.Background(), user)
		require.NoError(t, err)
		assert.Equal(t, 200, got)
	}
	reqs := f.requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, "", reqs[0].Recipient.User)
	assert.Equal(t, "100", reqs[1].Recipient.User)
}

func TestClientErrors(t *testing.T) {
	t.Run("cancelled", func(t *testing.T) {
		f := startFake(t, func(*sip.Request) []*sip.Response { return nil })
		c := dial(t, f.addr)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := c.Options(ctx, "")
		require.ErrorIs(t, err, context.Canceled)
	})
	t.Run("nobody listening", func(t *testing.T) {
		conn, err := net.ListenPacket("udp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := conn.LocalAddr().String()
		conn.Close()
		c := dial(t, addr)
		_, err = c.Options(context.Background(), "")
		require.Error(t, err)
		assert.False(t, errors.Is(err, ErrNoAnswer), "a refused port is not silence: %v", err)
	})
	t.Run("bad local address", func(t *testing.T) {
		_, err := Dial(context.Background(), "not-an-address", "127.0.0.1:5060")
		require.Error(t, err)
	})
}

func TestParseResponse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
		want response
	}{
		{"full", "SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nTo: <sip:a@h>;tag=abc\r\nCall-ID: c1\r\nCSeq: 7 REGISTER\r\n\r\n",
			true, response{status: 401, callID: "c1", cseq: 7, method: "REGISTER", toTag: "abc"}},
		{"compact forms", "SIP/2.0 200 OK\r\nt: sip:a@h;tag=t2\r\ni: c2\r\nCSeq: 1 INVITE\r\n\r\n",
			true, response{status: 200, callID: "c2", cseq: 1, method: "INVITE", toTag: "t2"}},
		{"tag in URI is not the header's", "SIP/2.0 200 OK\r\nTo: <sip:a@h;tag=uri>\r\nCall-ID: c3\r\nCSeq: 1 OPTIONS\r\n\r\n",
			true, response{status: 200, callID: "c3", cseq: 1, method: "OPTIONS"}},
		{"request", "OPTIONS sip:h SIP/2.0\r\nCall-ID: x\r\n\r\n", false, response{}},
		{"bad status", "SIP/2.0 99 Odd\r\nCall-ID: x\r\n\r\n", false, response{}},
		{"no Call-ID", "SIP/2.0 200 OK\r\nCSeq: 1 OPTIONS\r\n\r\n", false, response{}},
		{"garbage", "\x00\x01", false, response{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseResponse([]byte(tt.in))
			require.Equal(t, tt.ok, ok)
			if !ok {
				return
			}
			got.headers = nil
			assert.Equal(t, tt.want, *got)
		})
	}
}

func TestResult(t *testing.T) {
	var r Result
	require.NoError(t, r.add(403, nil))
	require.NoError(t, r.add(403, nil))
	require.NoError(t, r.add(0, ErrNoAnswer))
	require.NoError(t, r.add(200, nil))
	boom := errors.New("boom")
	require.ErrorIs(t, r.add(0, boom), boom)
	assert.Equal(t, Result{Sent: 5, Answered: 3, Unanswered: 1, Statuses: map[int]int{200: 1, 403: 2}}, r)
	assert.Equal(t, "sent 5, answered 3, unanswered 1, statuses 200:1 403:2", r.String())
	assert.Equal(t, "sent 0, answered 0, unanswered 0", Result{}.String())
}

func TestNames(t *testing.T) {
	assert.Equal(t, []string{"u1", "u2", "u3"}, Names("u", 3))
	assert.Empty(t, Names("u", 0))
}
