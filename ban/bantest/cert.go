package bantest

import (
	"crypto/tls"
	"fmt"
	"time"

	"github.com/sipban/sipban/internal/selfsigned"
)

// SelfSigned returns a self-signed ECDSA P-256 certificate for hosts (names
// or IP addresses), valid for a day from now: enough for a test server that
// a Client dials over TLS.
func SelfSigned(hosts ...string) (tls.Certificate, error) {
	c, err := selfsigned.New("bantest", 24*time.Hour, hosts...)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("bantest: %w", err)
	}
	return c, nil
}
