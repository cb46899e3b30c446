package sipparse_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sipban/sipban/sipparse"
)

// view is what the tests compare of a Message, as strings.
type view struct {
	Err           string
	Method        string // method of a request, or status and reason of a response
	URI           string // Request-URI
	Via           string // transport, sent-by, branch
	From, To      string
	Contact       string
	CallID        string
	CSeq          string
	ContentLength int
	Body          int // len(Body)
	Len           int
	Extra         string // the fields above lack, those present only
}

func viewOf(m *sipparse.Message, err error) view {
	v := view{
		Err:           errName(err),
		From:          nameAddr(&m.From),
		To:            nameAddr(&m.To),
		Contact:       nameAddr(&m.Contact),
		CallID:        string(m.CallID),
		ContentLength: m.ContentLength,
		Body:          len(m.Body),
		Len:           m.Len,
	}
	if m.Request {
		v.Method = string(m.Method)
		v.URI = uri(&m.RequestURI)
	} else if m.Status != 0 || m.Reason != nil {
		v.Method = strconv.Itoa(m.Status) + " " + string(m.Reason)
	}
	if m.Via.Transport != nil {
		v.Via = string(m.Via.Transport) + " " + hostPort(m.Via.Host, m.Via.Port) + " " + string(m.Via.Branch)
	}
	if m.CSeqMethod != nil {
		v.CSeq = strconv.FormatUint(uint64(m.CSeq), 10) + " " + string(m.CSeqMethod)
	}
	if m.ContactStar {
		v.Contact = "*"
	}
	v.Extra = extra(m)
	return v
}

// extra lists the fields of m that view lacks, if set, as key=value.
func extra(m *sipparse.Message) string {
	var s []string
	switch {
	case m.Via.RPort == 0:
		s = append(s, "rport")
	case m.Via.RPort > 0:
		s = append(s, "rport="+strconv.Itoa(m.Via.RPort))
	}
	if m.Via.Received != nil {
		s = append(s, "received="+string(m.Via.Received))
	}
	if m.Expires >= 0 {
		s = append(s, "expires="+strconv.Itoa(m.Expires))
	}
	if m.UserAgent != nil {
		s = append(s, "ua="+string(m.UserAgent))
	}
	if m.Contact.Instance != nil {
		s = append(s, "instance="+string(m.Contact.Instance))
	}
	if m.Server != nil {
		s = append(s, "server="+string(m.Server))
	}
	if a := m.Auth; a.Present {
		kind := "auth="
		if a.Proxy {
			kind = "proxy-auth="
		}
		s = append(s, kind+string(a.Scheme)+"/"+string(a.Username)+"/"+string(a.Realm))
		if a.Nonce != nil {
			s = append(s, "nonce="+string(a.Nonce))
		}
	}
	if c := m.Challenge; c.Present {
		kind := "challenge="
		if c.Proxy {
			kind = "proxy-challenge="
		}
		s = append(s, kind+string(c.Scheme)+"/"+string(c.Realm)+"/"+string(c.Nonce))
	}
	return strings.Join(s, " ")
}

func errName(err error) string {
	var fe *sipparse.FieldError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &fe):
		if !errors.Is(err, sipparse.ErrMalformed) {
			return "FieldError not wrapping ErrMalformed"
		}
		return "Malformed " + fe.Field()
	case errors.Is(err, sipparse.ErrKeepAlive):
		return "KeepAlive"
	case errors.Is(err, sipparse.ErrNotSIP):
		return "NotSIP"
	case errors.Is(err, sipparse.ErrTruncated):
		return "Truncated"
	case errors.Is(err, sipparse.ErrTooLarge):
		return "TooLarge"
	}
	return "unexpected " + err.Error()
}

func hostPort(host []byte, port uint16) string {
	s := string(host)
	if port != 0 {
		s += ":" + strconv.Itoa(int(port))
	}
	return s
}

// uri rebuilds a URI from the parts Parse found.
func uri(u *sipparse.URI) string {
	switch {
	case u.Raw == nil:
		return ""
	case u.Host != nil:
		s := string(u.Scheme) + ":"
		if u.User != nil {
			s += string(u.User) + "@"
		}
		return s + hostPort(u.Host, u.Port)
	case u.User != nil:
		return string(u.Scheme) + ":" + string(u.User)
	}
	return string(u.Raw)
}

func nameAddr(na *sipparse.NameAddr) string {
	s := uri(&na.URI)
	if na.Display != nil {
		s = `"` + string(na.Display) + `" ` + s
	}
	if na.Tag != nil {
		s += ";tag=" + string(na.Tag)
	}
	return s
}

// testdata returns the contents of the files matching pattern under testdata.
func testdata(t testing.TB, pattern string) map[string][]byte {
	t.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil || len(names) == 0 {
		t.Fatalf("no testdata/%s: %v", pattern, err)
	}
	files := make(map[string][]byte, len(names))
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(name)] = b
	}
	return files
}
