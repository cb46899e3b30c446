package bantest

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStream: over TCP a Client frames answers by Content-Length, skips
// keep-alives and provisional answers, and takes a closed connection for
// silence.
func TestStream(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	got := make(chan *sip.Request, 2)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		rd := bufio.NewReader(c)
		for i := range 2 {
			var head strings.Builder
			for !strings.HasSuffix(head.String(), "\r\n\r\n") {
				line, err := rd.ReadString('\n')
				if err != nil {
					return
				}
				head.WriteString(line)
			}
			msg, err := sip.ParseMessage([]byte(head.String()))
			if err != nil {
				t.Errorf("fake server: %v", err)
				return
			}
			req := msg.(*sip.Request)
			got <- req
			trying := sip.NewResponseFromRequest(req, 100, "Trying", nil).String()
			ok := sip.NewResponseFromRequest(req, 200, "OK", nil)
			ok.SetBody([]byte("v=0\r\n\r\n")) // a blank line in the body, which only Content-Length frames
			answer := strings.Replace(ok.String(), "Content-Length:", "l:", 1)
			if i == 0 {
				_, _ = c.Write([]byte("\r\n\r\n" + trying + answer))
			} else {
				// The answer in two writes, cut in its body.
				_, _ = c.Write([]byte(answer[:len(answer)-3]))
				_, _ = c.Write([]byte(answer[len(answer)-3:]))
			}
		}
	}()

	d := Dialer{Transport: "tcp", Timeout: time.Second}
	c, err := d.Dial(context.Background(), "127.0.0.1:0", l.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	st, err := c.Register(context.Background(), "alice", "")
	require.NoError(t, err)
	assert.Equal(t, 200, st)
	st, err = c.Options(context.Background(), "")
	require.NoError(t, err)
	assert.Equal(t, 200, st)
	req := <-got
	via := req.Via()
	require.NotNil(t, via)
	assert.Equal(t, "TCP", via.Transport)
	require.NotNil(t, req.Contact())
	assert.Equal(t, "tcp", req.Contact().Address.UriParams.GetOr("transport", ""))

	// The server closed the connection: silence, now and after.
	for range 2 {
		_, err = c.Options(context.Background(), "")
		assert.True(t, errors.Is(err, ErrNoAnswer), "%v", err)
	}
	_, err = (&Dialer{Transport: "sctp"}).Dial(context.Background(), "127.0.0.1:0", l.Addr().String())
	assert.ErrorContains(t, err, `unknown transport "sctp"`)
}
