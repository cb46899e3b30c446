package sipauth_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/sipauth"
)

var users = map[string]string{"alice": "alice-secret", "bob": "bob-secret"}

func lookup(user string) (string, bool) {
	pw, ok := users[user]
	return pw, ok
}

// recorder is a server transaction that keeps the responses sent on it.
type recorder struct {
	sip.ServerTransaction
	sent []*sip.Response
}

func (r *recorder) Respond(res *sip.Response) error {
	r.sent = append(r.sent, res)
	return nil
}

// request returns a request of method as received from src ("" for one not
// received from a transport), with credentials in header if cred is set.
func request(method sip.RequestMethod, src, header, cred string) *sip.Request {
	req := sip.NewRequest(method, sip.Uri{Scheme: "sip", Host: "example.com"})
	req.AppendHeader(sip.NewHeader("Via", "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1"))
	req.AppendHeader(sip.NewHeader("From", "<sip:alice@example.com>;tag=1"))
	req.AppendHeader(sip.NewHeader("To", "<sip:alice@example.com>"))
	req.AppendHeader(sip.NewHeader("Call-ID", "call-1"))
	req.AppendHeader(sip.NewHeader("CSeq", "1 "+string(method)))
	if cred != "" {
		req.AppendHeader(sip.NewHeader(header, cred))
	}
	if src != "" {
		req.SetSource(src)
	}
	return req
}

func TestAuthenticate(t *testing.T) {
	a := newAuth(t, &clock{t0})
	answer := func(method string, from netip.Addr, user, password string) string {
		return client{from: from, method: method, user: user, password: password}.answer(t, a)
	}
	const src = "192.0.2.10:5060"
	tests := []struct {
		name    string
		req     *sip.Request
		want    sipauth.Result
		status  int    // of the challenge sent, 0 for none
		header  string // that carries it
		wantErr bool
	}{
		{name: "REGISTER without credentials", req: request(sip.REGISTER, src, "", ""),
			status: 401, header: "WWW-Authenticate"},
		{name: "INVITE without credentials", req: request(sip.INVITE, src, "", ""),
			status: 407, header: "Proxy-Authenticate"},
		{name: "INVITE with Authorization", req: request(sip.INVITE, src, "Authorization", answer("INVITE", phone, "", "")),
			status: 407, header: "Proxy-Authenticate"},
		{name: "REGISTER accepted", req: request(sip.REGISTER, src, "Authorization", answer("", phone, "", "")),
			want: sipauth.Result{Verdict: sipauth.Accepted, User: "alice"}},
		{name: "INVITE accepted", req: request(sip.INVITE, src, "Proxy-Authorization", answer("INVITE", phone, "", "")),
			want: sipauth.Result{Verdict: sipauth.Accepted, User: "alice"}},
		{name: "another port of the address", req: request(sip.REGISTER, "192.0.2.10:40000", "Authorization", answer("", phone, "", "")),
			want: sipauth.Result{Verdict: sipauth.Accepted, User: "alice"}},
		{name: "wrong password", req: request(sip.REGISTER, src, "Authorization", answer("", phone, "", "guess")),
			want: sipauth.Result{Verdict: sipauth.Rejected, User: "alice"}},
		{name: "unknown account", req: request(sip.REGISTER, src, "Authorization", answer("", phone, "nobody", "guess")),
			want: sipauth.Result{Verdict: sipauth.Rejected, User: "nobody", Unknown: true}},
		{name: "nonce for another address", req: request(sip.REGISTER, src, "Authorization", answer("", other, "", "")),
			want: sipauth.Result{User: "alice", Stale: true}, status: 401, header: "WWW-Authenticate"},
		{name: "unknown account, nonce for another address", req: request(sip.INVITE, src, "Proxy-Authorization", answer("INVITE", other, "nobody", "guess")),
			want: sipauth.Result{User: "nobody", Stale: true}, status: 407, header: "Proxy-Authenticate"},
		{name: "garbled", req: request(sip.REGISTER, src, "Authorization", `Digest username="alice`),
			want: sipauth.Result{Stale: true}, status: 401, header: "WWW-Authenticate", wantErr: true},
		{name: "source from Via only", req: request(sip.REGISTER, "", "Authorization", answer("", phone, "", "")),
			want: sipauth.Result{User: "alice", Stale: true}, status: 401, header: "WWW-Authenticate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx := new(recorder)
			got, err := a.Authenticate(tt.req, tx, lookup)
			require.NoError(t, err)
			if tt.wantErr {
				assert.ErrorIs(t, got.Invalid, sipauth.ErrCredentials)
			} else {
				assert.NoError(t, got.Invalid)
			}
			got.Invalid = nil
			assert.Equal(t, tt.want, got)
			if tt.status == 0 {
				assert.Empty(t, tx.sent, "the caller answers")
				return
			}
			require.Len(t, tx.sent, 1)
			res := tx.sent[0]
			assert.Equal(t, tt.status, res.StatusCode)
			h := res.GetHeader(tt.header)
			require.NotNil(t, h, "no %s in\n%s", tt.header, res)
			chal := mustChallenge(t, h.Value())
			assert.Equal(t, tt.want.Stale, chal.Stale)
		})
	}
}

// failing is a server transaction whose responses cannot be sent.
type failing struct{ sip.ServerTransaction }

func (failing) Respond(*sip.Response) error { return errors.New("transport closed") }

func TestAuthenticateRespondError(t *testing.T) {
	a := newAuth(t, &clock{t0})
	r, err := a.Authenticate(request(sip.INVITE, "192.0.2.10:5060", "", ""), failing{}, lookup)
	assert.EqualError(t, err, "sipauth: respond 407: transport closed")
	assert.Equal(t, sipauth.Result{}, r)
}

// TestSipgoRoundTrip: sipgo's own client registers and calls over UDP on
// loopback against a sipgo server that authenticates with Authenticate.
func TestSipgoRoundTrip(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := sipauth.New(sipauth.Options{Realm: "example.com"})
	require.NoError(t, err)

	var mu sync.Mutex
	var results []sipauth.Result
	handle := func(ok int) sipgo.RequestHandler {
		return func(req *sip.Request, tx sip.ServerTransaction) {
			r, err := a.Authenticate(req, tx, lookup)
			assert.NoError(t, err)
			mu.Lock()
			results = append(results, r)
			mu.Unlock()
			status, reason := ok, "OK"
			switch {
			case r.Verdict == sipauth.Unproven:
				return
			case r.Unknown:
				status, reason = 404, "Not Found"
			case r.Verdict == sipauth.Rejected:
				status, reason = 403, "Forbidden"
			}
			_ = tx.Respond(sip.NewResponseFromRequest(req, status, reason, nil))
		}
	}
	sua, err := sipgo.NewUA()
	require.NoError(t, err)
	defer sua.Close()
	srv, err := sipgo.NewServer(sua)
	require.NoError(t, err)
	srv.OnRegister(handle(200))
	srv.OnInvite(handle(480))
	srv.OnAck(func(*sip.Request, sip.ServerTransaction) {})
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.ServeUDP(conn)
	target := conn.LocalAddr().String()

	cua, err := sipgo.NewUA()
	require.NoError(t, err)
	defer cua.Close()
	c, err := sipgo.NewClient(cua, sipgo.WithClientHostname("127.0.0.1"))
	require.NoError(t, err)

	tests := []struct {
		name      string
		method    sip.RequestMethod
		user, pw  string
		challenge int
		want      int
		verdict   sipauth.Verdict
	}{
		{"register", sip.REGISTER, "alice", "alice-secret", 401, 200, sipauth.Accepted},
		{"register wrong password", sip.REGISTER, "alice", "guess", 401, 403, sipauth.Rejected},
		{"register unknown account", sip.REGISTER, "nobody", "guess", 401, 404, sipauth.Rejected},
		{"invite", sip.INVITE, "bob", "bob-secret", 407, 480, sipauth.Accepted},
		{"invite wrong password", sip.INVITE, "bob", "guess", 407, 403, sipauth.Rejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			results = nil
			mu.Unlock()
			var uri sip.Uri
			require.NoError(t, sip.ParseUri("sip:"+tt.user+"@"+target, &uri))
			req := sip.NewRequest(tt.method, uri)
			req.AppendHeader(&sip.ToHeader{Address: uri})
			from := &sip.FromHeader{Address: uri, Params: sip.NewParams()}
			from.Params.Add("tag", sip.GenerateTagN(8))
			req.AppendHeader(from)
			res, err := c.Do(ctx, req)
			require.NoError(t, err)
			require.Equal(t, tt.challenge, res.StatusCode)
			res, err = c.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: tt.user, Password: tt.pw})
			require.NoError(t, err)
			assert.Equal(t, tt.want, res.StatusCode)

			// The challenge is recorded after it is sent: maybe second, and
			// maybe after the final answer arrived.
			require.Eventually(t, func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(results) >= 2
			}, 5*time.Second, time.Millisecond)
			mu.Lock()
			defer mu.Unlock()
			require.Len(t, results, 2)
			slices.SortFunc(results, func(a, b sipauth.Result) int { return int(a.Verdict - b.Verdict) })
			assert.Equal(t, sipauth.Unproven, results[0].Verdict)
			assert.False(t, results[0].Stale)
			assert.Equal(t, tt.verdict, results[1].Verdict)
			assert.Equal(t, tt.user, results[1].User)
		})
	}
}
