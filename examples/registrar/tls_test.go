package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/ban/bantest"
	"github.com/sipban/sipban/internal/syncbuf"
)

// runStreams runs the registrar in process with -tcp and -tls on free
// ports and the certificate files cert and key, and returns its log once it serves both.
func runStreams(t *testing.T, cert, key string) *syncbuf.Buffer {
	t.Helper()
	logs := new(syncbuf.Buffer)
	log := slog.New(slog.NewTextHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, log, config{listen: "127.0.0.1:0", tcp: "127.0.0.1:0", tls: "127.0.0.1:0",
			cert: cert, key: key, realm: "sipban.local", enforcer: "memory"})
	}()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
		if t.Failed() {
			t.Logf("registrar log:\n%s", logs)
		}
	})
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	err := bantest.WaitUntil(wctx, func() bool {
		return servingOn("tcp").MatchString(logs.String()) && servingOn("tls").MatchString(logs.String())
	})
	require.NoError(t, err, "serving TCP and TLS")
	return logs
}

func servingOn(transport string) *regexp.Regexp {
	return regexp.MustCompile(`msg="registrar: serving SIP" ` + transport + `=(\S+)`)
}

// register registers alice over transport with conf and returns the status.
func register(t *testing.T, logs *syncbuf.Buffer, transport string, conf *tls.Config) int {
	t.Helper()
	addr := servingOn(transport).FindStringSubmatch(logs.String())[1]
	d := bantest.Dialer{Timeout: 2 * time.Second, Transport: transport, TLSConfig: conf}
	c, err := d.Dial(context.Background(), "127.0.0.1:0", addr)
	require.NoError(t, err)
	defer c.Close()
	st, err := c.Register(context.Background(), "alice", "alice-secret")
	require.NoError(t, err, transport)
	return st
}

// TestStreamsSelfSigned: without -cert, TLS serves a certificate made at
// start, whose fingerprint the log gives; phones register over TCP and TLS.
func TestStreamsSelfSigned(t *testing.T) {
	logs := runStreams(t, "", "")
	st := register(t, logs, "tcp", nil)
	assert.Equal(t, 200, st)
	var seen []byte
	conf := &tls.Config{InsecureSkipVerify: true, VerifyConnection: func(cs tls.ConnectionState) error {
		seen = cs.PeerCertificates[0].Raw
		return nil
	}}
	st = register(t, logs, "tls", conf)
	assert.Equal(t, 200, st)
	require.NotNil(t, seen)
	sum := sha256.Sum256(seen)
	m := regexp.MustCompile(`sha256=(\S+)`).FindStringSubmatch(logs.String())
	require.NotNil(t, m, "the fingerprint is logged")
	assert.Equal(t, fingerprint(sum[:]), m[1])

	// It verifies for localhost and 127.0.0.1.
	cert, err := x509.ParseCertificate(seen)
	require.NoError(t, err)
	for _, host := range []string{"localhost", "127.0.0.1"} {
		assert.NoError(t, cert.VerifyHostname(host))
	}
}

// TestStreamsCertFiles: -cert and -key are served, and verify.
func TestStreamsCertFiles(t *testing.T) {
	cert, err := bantest.SelfSigned("127.0.0.1")
	require.NoError(t, err)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	der, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	logs := runStreams(t, certFile, keyFile)
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	require.NoError(t, err)
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	st := register(t, logs, "tls", &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	assert.Equal(t, 200, st)
	assert.NotContains(t, logs.String(), "self-signed")
}

func TestStreamsRefused(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for _, tt := range []struct{ name, tls, cert, key, err string }{
		{"cert without tls", "", "c.pem", "k.pem", "-cert and -key need -tls"},
		{"cert without key", "127.0.0.1:0", "c.pem", "", "-cert and -key: give both or neither"},
		{"missing files", "127.0.0.1:0", "none.pem", "none.pem", "-cert none.pem -key none.pem"},
		{"bad address", "127.0.0.1:notaport", "", "", "-tls 127.0.0.1:notaport"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), log, config{listen: "127.0.0.1:0", tls: tt.tls, cert: tt.cert, key: tt.key,
				realm: "sipban.local", enforcer: "memory"})
			require.ErrorContains(t, err, tt.err)
		})
	}
}
