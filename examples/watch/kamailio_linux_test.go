package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/icholy/digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/ban/bantest"
	"github.com/sipban/sipban/internal/kernel"
	"github.com/sipban/sipban/internal/netnstest"
	"github.com/sipban/sipban/internal/syncbuf"
)

// kamailioCfg is a registrar on UDP and TLS that knows alice, bob and
// carol (passwords alice-secret, ...): a REGISTER without credentials, or
// with a stale nonce, is challenged; wrong credentials get a 403. siptrace
// mirrors every message Kamailio receives and sends to watch over HEPv3,
// with an auth key. The verbs: the UDP address, the TLS one, the TLS
// config file, watch's HEP address, the key.
const kamailioCfg = `#!KAMAILIO
debug=2
log_stderror=yes
children=2
tcp_children=2
disable_sctp=yes
enable_tls=yes
auto_aliases=no
listen=udp:%s
listen=tls:%s

loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "tls.so"
modparam("tls", "config", "%s")
loadmodule "pv.so"
loadmodule "auth.so"
loadmodule "siptrace.so"

modparam("auth", "secret", "kamailio-test-secret")
modparam("siptrace", "duplicate_uri", "sip:%s")
modparam("siptrace", "hep_mode_on", 1)
modparam("siptrace", "hep_version", 3)
modparam("siptrace", "trace_to_database", 0)
modparam("siptrace", "trace_on", 1)
modparam("siptrace", "trace_mode", 1)
modparam("siptrace", "auth_key", "%s")

request_route {
	if (method != "REGISTER") {
		sl_send_reply("405", "Method Not Allowed");
		exit;
	}
	$var(pw) = "";
	if ($au == "alice" || $au == "bob" || $au == "carol") {
		$var(pw) = $au + "-secret";
	}
	$var(rc) = pv_www_authenticate("$td", "$var(pw)", "0");
	if ($var(rc) == -2) {
		sl_send_reply("403", "Forbidden");
		exit;
	}
	if ($var(rc) < 0) {
		www_challenge("$td", "0");
		exit;
	}
	sl_send_reply("200", "OK");
}
`

// kamailioTLS is kamailio's TLS config: the certificate and key files.
const kamailioTLS = `[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
certificate = %s
private_key = %s
`

// selfSigned writes a certificate for 127.0.0.1 and its key to dir.
func selfSigned(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	c, err := bantest.SelfSigned("127.0.0.1")
	require.NoError(t, err)
	kder, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	require.NoError(t, err)
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o600))
	require.NoError(t, os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600))
	return cert, key
}

// tlsPhone registers over one TLS connection from a loopback address, as
// a phone does: REGISTER, and on a 401 the same with digest credentials.
type tlsPhone struct {
	t    *testing.T
	conn *tls.Conn
	r    *bufio.Reader
	n    int
}

func dialTLS(t *testing.T, local, server string) *tlsPhone {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	// A test certificate on loopback: nothing to verify.
	c, err := tls.DialWithDialer(d, "tcp", server, &tls.Config{InsecureSkipVerify: true})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return &tlsPhone{t: t, conn: c, r: bufio.NewReader(c)}
}

// register returns the final status of a registration as account.
func (p *tlsPhone) register(account, password string) int {
	p.t.Helper()
	p.n++
	local := p.conn.LocalAddr().String()
	msg := func(cseq int, auth string) string {
		m := "REGISTER sip:127.0.0.1 SIP/2.0\r\n" +
			fmt.Sprintf("Via: SIP/2.0/TLS %s;branch=z9hG4bK-%d-%d;rport\r\n", local, p.n, cseq) +
			"Max-Forwards: 70\r\n" +
			fmt.Sprintf("From: <sip:%s@127.0.0.1>;tag=f%d\r\n", account, p.n) +
			fmt.Sprintf("To: <sip:%s@127.0.0.1>\r\n", account) +
			fmt.Sprintf("Call-ID: tls-%d@%s\r\n", p.n, local) +
			fmt.Sprintf("CSeq: %d REGISTER\r\n", cseq) +
			fmt.Sprintf("Contact: <sip:%s@%s;transport=tls>\r\n", account, local) +
			"User-Agent: sipban-tls-test\r\nExpires: 60\r\n"
		if auth != "" {
			m += "Authorization: " + auth + "\r\n"
		}
		return m + "Content-Length: 0\r\n\r\n"
	}
	status, challenge := p.do(msg(1, ""))
	if status != 401 {
		return status
	}
	chal, err := digest.ParseChallenge(challenge)
	require.NoError(p.t, err)
	cred, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: "sip:127.0.0.1", Username: account, Password: password, Count: 1})
	require.NoError(p.t, err)
	status, _ = p.do(msg(2, cred.String()))
	return status
}

// do sends m and reads the final response: its status and its
// WWW-Authenticate.
func (p *tlsPhone) do(m string) (int, string) {
	p.t.Helper()
	require.NoError(p.t, p.conn.SetDeadline(time.Now().Add(5*time.Second)))
	_, err := p.conn.Write([]byte(m))
	require.NoError(p.t, err)
	for {
		status, challenge, length := 0, "", 0
		for {
			line, err := p.r.ReadString('\n')
			require.NoError(p.t, err)
			line = strings.TrimRight(line, "\r\n")
			if line == "" {
				break
			}
			name, value, _ := strings.Cut(line, ":")
			switch {
			case strings.HasPrefix(line, "SIP/2.0 "):
				status, err = strconv.Atoi(line[8:11])
				require.NoError(p.t, err, line)
			case strings.EqualFold(name, "WWW-Authenticate"):
				challenge = strings.TrimSpace(value)
			case strings.EqualFold(name, "Content-Length"), name == "l":
				length, err = strconv.Atoi(strings.TrimSpace(value))
				require.NoError(p.t, err, line)
			}
		}
		_, err := p.r.Discard(length)
		require.NoError(p.t, err)
		if status >= 200 {
			return status, challenge
		}
	}
}

// freeUDP and freeTCP return a loopback address whose port was free a
// moment ago.
func freeUDP(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer pc.Close()
	return pc.LocalAddr().String()
}

func freeTCP(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// kamailio starts Debian's kamailio with cfg on loopback and stops it when
// the test ends; it returns once kamailio answers SIP on sip.
func kamailio(t *testing.T, sip, cfg string) {
	t.Helper()
	bin, err := exec.LookPath("kamailio")
	require.NoError(t, err, "kamailio must be installed (.ci/run does)")
	dir := t.TempDir()
	file := filepath.Join(dir, "kamailio.cfg")
	require.NoError(t, os.WriteFile(file, []byte(cfg), 0o600))
	var log syncbuf.Buffer
	// -DD: stay in the foreground; -E: log to stderr; -Y: its runtime
	// files in the test's directory.
	cmd := exec.Command(bin, "-f", file, "-DD", "-E", "-Y", dir, "-m", "32", "-M", "4")
	cmd.Stdout, cmd.Stderr = &log, &log
	// Its own process group, so that its children go with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("kamailio:\n%s", log.String())
		}
	})

	c, err := (&bantest.Dialer{Timeout: 200 * time.Millisecond}).Dial(context.Background(), "127.0.0.1:0", sip)
	require.NoError(t, err)
	defer c.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, err := c.Options(context.Background(), "")
		if err == nil && status == 405 {
			return
		}
		select {
		case err := <-done:
			t.Fatalf("kamailio exited: %v\n%s", err, log.String())
		default:
		}
		require.True(t, time.Now().Before(deadline), "kamailio does not answer on %s: %v\n%s", sip, err, log.String())
	}
}

// TestKamailio: watch -hep receives Kamailio's siptrace mirror while a
// phone registers with the right password and a guesser tries others, over
// UDP and then over TLS; watch bans the guessers, not the phones. In a
// network namespace of its own (SIPBAN_NETNS=1 too), watch applies the bans
// with nftables, and the guessers no longer reach Kamailio while the phones
// do. Selected with SIPBAN_KAMAILIO=1 (.ci/run does), where it fails if
// kamailio is missing.
func TestKamailio(t *testing.T) {
	if os.Getenv("SIPBAN_KAMAILIO") != "1" {
		t.Skip("set SIPBAN_KAMAILIO=1 to run against Debian's kamailio")
	}
	sip, sips := freeUDP(t), freeTCP(t)
	cfg := config{hepKey: "s3cret", scope: kernel.Flags{BanLocal: true}}
	kernelBans := netnstest.Selected()
	if kernelBans {
		netnstest.Require(t)
		_, sipPort, _ := net.SplitHostPort(sip)
		_, sipsPort, _ := net.SplitHostPort(sips)
		cfg.enforcer, cfg.table, cfg.scope.Ports = "nftables", "watchkamailio", sipPort+","+sipsPort
	}
	var out syncbuf.Buffer
	hep, stop := startHEP(t, cfg, &out)
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	tlsCfg := filepath.Join(dir, "tls.cfg")
	require.NoError(t, os.WriteFile(tlsCfg, []byte(fmt.Sprintf(kamailioTLS, cert, key)), 0o600))
	kamailio(t, sip, fmt.Sprintf(kamailioCfg, sip, sips, tlsCfg, hep, "s3cret"))
	ctx := context.Background()
	d := bantest.Dialer{Timeout: 2 * time.Second}

	phone, err := d.Dial(ctx, "127.0.0.20:0", sip)
	require.NoError(t, err)
	defer phone.Close()
	for range 3 {
		status, err := phone.Register(ctx, "alice", "alice-secret")
		require.NoError(t, err)
		require.Equal(t, 200, status)
	}

	guesser, err := d.Dial(ctx, "127.0.0.21:0", sip)
	require.NoError(t, err)
	defer guesser.Close()
	for i := range 5 {
		status, err := guesser.Register(ctx, "alice", fmt.Sprintf("guess-%d", i))
		require.NoError(t, err)
		require.Equal(t, 403, status, "guess %d", i)
	}
	// The mirror of the fifth 403 leaves Kamailio after the 403 itself.
	waitOutput(t, &out, "ban 127.0.0.21 (address, bad-credentials)")

	// Over TLS, which no capture reads: Kamailio mirrors it decrypted.
	bans, registrations := 2, 3+5+1+5
	tlsPhone := dialTLS(t, "127.0.0.23", sips)
	require.Equal(t, 200, tlsPhone.register("bob", "bob-secret"))
	tlsGuesser := dialTLS(t, "127.0.0.22", sips)
	for i := range 5 {
		require.Equal(t, 403, tlsGuesser.register("bob", fmt.Sprintf("guess-%d", i)), "guess %d over TLS", i)
	}
	waitOutput(t, &out, "ban 127.0.0.22 (address, bad-credentials)")

	if kernelBans {
		_, err := guesser.Register(ctx, "alice", "one more")
		assert.ErrorIs(t, err, bantest.ErrNoAnswer, "the UDP guesser is dropped")
		_, err = tls.DialWithDialer(&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.22")}, Timeout: time.Second},
			"tcp", sips, &tls.Config{InsecureSkipVerify: true})
		assert.Error(t, err, "the TLS guesser cannot connect")
		status, err := phone.Register(ctx, "alice", "alice-secret")
		require.NoError(t, err, "the UDP phone still reaches Kamailio")
		assert.Equal(t, 200, status)
		assert.Equal(t, 200, tlsPhone.register("bob", "bob-secret"), "the TLS phone too")
		// A third guesser's ban, at an account of its own, follows the
		// mirror of all the above.
		third, err := d.Dial(ctx, "127.0.0.24:0", sip)
		require.NoError(t, err)
		defer third.Close()
		for i := range 5 {
			status, err := third.Register(ctx, "carol", fmt.Sprintf("guess-%d", i))
			require.NoError(t, err)
			require.Equal(t, 403, status)
		}
		waitOutput(t, &out, "ban 127.0.0.24 (address, bad-credentials)")
		bans, registrations = 3, registrations+2+5
	}
	require.NoError(t, stop())
	t.Log(out.String())
	assert.NotContains(t, out.String(), "ban 127.0.0.20")
	assert.NotContains(t, out.String(), "ban 127.0.0.23")
	// Every message mirrored was paired: the registrations, each
	// challenged first, and the start-up probes.
	m := regexp.MustCompile(fmt.Sprintf(`watch: (\d+) SIP messages, (\d+) transactions paired, 0 unanswered, 0 unreadable, 0 HEP packets refused, 0 not SIP; %d bans`, bans)).
		FindStringSubmatch(out.String())
	require.NotNil(t, m, "summary")
	messages, _ := strconv.Atoi(m[1])
	paired, _ := strconv.Atoi(m[2])
	assert.GreaterOrEqual(t, paired, 2*registrations)
	assert.Equal(t, 2*paired, messages)
}
