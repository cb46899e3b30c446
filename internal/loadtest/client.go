package loadtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/icholy/digest"
)

// T1 is the client's retransmission interval: RFC 3261's Timer A, kept
// constant rather than doubled, so that a request lost to a full socket
// buffer under a flood costs a fixed half second.
const T1 = 500 * time.Millisecond

// MaxSends is how many times a client sends one request before it gives
// up: 4 seconds at T1.
const MaxSends = 8

// ErrNoAnswer is wrapped by the error of a request that got no final
// response after MaxSends sends.
var ErrNoAnswer = errors.New("loadtest: no answer")

// Client is a SIP phone over UDP that registers one account, as cheaply as
// it can so that the server's work dominates the load: it formats its
// requests by hand and reads only the status, CSeq and challenge of a
// response. It is not safe for concurrent use.
type Client struct {
	conn        *net.UDPConn
	local       netip.AddrPort
	server      netip.AddrPort
	account     string
	password    string
	callID, tag string
	cseq        int
	req, buf    []byte
	retransmits int
}

// Dial binds a socket to local (port 0 picks one) and returns a Client that
// registers account with password at server.
func Dial(local, server netip.AddrPort, account, password string) (*Client, error) {
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(local))
	if err != nil {
		return nil, fmt.Errorf("loadtest: dial from %v: %w", local, err)
	}
	return &Client{
		conn:     conn,
		local:    conn.LocalAddr().(*net.UDPAddr).AddrPort(),
		server:   server,
		account:  account,
		password: password,
		callID:   token(),
		tag:      token(),
		buf:      make([]byte, 4096),
	}, nil
}

// LocalAddr is the address the client sends from.
func (c *Client) LocalAddr() netip.AddrPort { return c.local }

// Retransmits returns how many requests the client has sent again for want
// of an answer.
func (c *Client) Retransmits() int { return c.retransmits }

// Close releases the socket.
func (c *Client) Close() error { return c.conn.Close() }

// Register does one registration: REGISTER, the 401 challenge, REGISTER
// with digest credentials over its nonce, and returns the final status of
// the second (200 for a right password, 403 for a wrong one). A first
// answer other than 401 is returned as it is.
func (c *Client) Register(ctx context.Context) (int, error) {
	status, challenge, err := c.do(ctx, "")
	if err != nil || status != 401 {
		return status, err
	}
	chal, err := digest.ParseChallenge(challenge)
	if err != nil {
		return status, fmt.Errorf("loadtest: 401 with challenge %q: %w", challenge, err)
	}
	cred, err := digest.Digest(chal, digest.Options{
		Method: "REGISTER", URI: c.uri(), Username: c.account, Password: c.password, Count: 1,
	})
	if err != nil {
		return status, fmt.Errorf("loadtest: answer challenge: %w", err)
	}
	status, _, err = c.do(ctx, cred.String())
	return status, err
}

func (c *Client) uri() string { return "sip:" + c.server.String() }

// do sends a REGISTER, with the Authorization value auth if not empty, as
// a new transaction and returns the final status and the challenge of the
// answer, sending it again every T1 until answered.
func (c *Client) do(ctx context.Context, auth string) (status int, challenge string, err error) {
	c.cseq++
	c.format(auth)
	want := strconv.Itoa(c.cseq) + " REGISTER"
	for sends := 0; ; {
		if sends == MaxSends {
			return 0, "", fmt.Errorf("%w to REGISTER %d from %v after %d sends", ErrNoAnswer, c.cseq, c.local, sends)
		}
		if sends > 0 {
			c.retransmits++
		}
		sends++
		if _, err := c.conn.WriteToUDPAddrPort(c.req, c.server); err != nil {
			return 0, "", fmt.Errorf("loadtest: send from %v: %w", c.local, err)
		}
		if err := c.conn.SetReadDeadline(time.Now().Add(T1)); err != nil {
			return 0, "", fmt.Errorf("loadtest: %w", err)
		}
		for {
			n, err := c.conn.Read(c.buf)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			if err != nil {
				return 0, "", fmt.Errorf("loadtest: read at %v: %w", c.local, err)
			}
			if ctx.Err() != nil {
				return 0, "", ctx.Err()
			}
			status, cseq, chal := parseResponse(c.buf[:n])
			if status >= 200 && string(cseq) == want {
				return status, string(chal), nil
			}
			// A provisional answer, or a late one to an earlier request.
		}
		if ctx.Err() != nil {
			return 0, "", ctx.Err()
		}
	}
}

// format writes the request into c.req.
func (c *Client) format(auth string) {
	local, seq := c.local.String(), strconv.Itoa(c.cseq)
	b := c.req[:0]
	b = append(b, "REGISTER "...)
	b = append(b, c.uri()...)
	b = append(b, " SIP/2.0\r\nVia: SIP/2.0/UDP "...)
	b = append(b, local...)
	b = append(b, ";rport;branch=z9hG4bK"...)
	b = append(b, c.callID...)
	b = append(b, '.')
	b = append(b, seq...)
	b = append(b, "\r\nMax-Forwards: 70\r\nFrom: <sip:"...)
	b = append(b, c.account...)
	b = append(b, '@')
	b = append(b, c.server.Addr().String()...)
	b = append(b, ">;tag="...)
	b = append(b, c.tag...)
	b = append(b, "\r\nTo: <sip:"...)
	b = append(b, c.account...)
	b = append(b, '@')
	b = append(b, c.server.Addr().String()...)
	b = append(b, ">\r\nCall-ID: "...)
	b = append(b, c.callID...)
	b = append(b, "\r\nCSeq: "...)
	b = append(b, seq...)
	b = append(b, " REGISTER\r\nContact: <sip:"...)
	b = append(b, c.account...)
	b = append(b, '@')
	b = append(b, local...)
	b = append(b, ">\r\nExpires: 3600\r\nUser-Agent: sipban-loadtest\r\n"...)
	if auth != "" {
		b = append(b, "Authorization: "...)
		b = append(b, auth...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "Content-Length: 0\r\n\r\n"...)
	c.req = b
}

// parseResponse returns the status code, the CSeq value and the
// WWW-Authenticate value of a response; a status of 0 if data is not one.
// Header names are matched as sipgo writes them, in full.
func parseResponse(data []byte) (status int, cseq, challenge []byte) {
	line, rest, _ := bytes.Cut(data, []byte("\r\n"))
	if !bytes.HasPrefix(line, []byte("SIP/2.0 ")) || len(line) < 11 {
		return 0, nil, nil
	}
	status, err := strconv.Atoi(string(line[8:11]))
	if err != nil {
		return 0, nil, nil
	}
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		if len(line) == 0 {
			break
		}
		name, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		switch v = bytes.TrimSpace(v); {
		case bytes.EqualFold(name, []byte("CSeq")):
			cseq = v
		case bytes.EqualFold(name, []byte("WWW-Authenticate")):
			challenge = v
		}
	}
	return status, cseq, challenge
}

// token returns a random identifier for tags and Call-IDs.
func token() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
