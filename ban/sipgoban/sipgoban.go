package sipgoban

import (
	"errors"
	"net"
	"net/netip"
	"strings"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/detect"
	"github.com/sipban/sipban/sipparse"
)

// Option installs ReadFilter(g) on a sipgo UserAgent:
//
//	ua, err := sipgo.NewUA(sipgoban.Option(g))
//
// sipgo keeps only the last WithUserAgentTransportLayerOptions given, so a
// caller that sets other transport options must pass TransportOption(g) in
// that same call instead, or the filter is silently dropped.
func Option(g *ban.Guard) sipgo.UserAgentOption {
	return sipgo.WithUserAgentTransportLayerOptions(TransportOption(g))
}

// TransportOption is ReadFilter(g) as a transport layer option, to combine
// with others in one sipgo.WithUserAgentTransportLayerOptions call.
func TransportOption(g *ban.Guard) sip.TransportLayerOption {
	return sip.WithTransportLayerReadFilter(ReadFilter(g))
}

// ReadFilter returns a transport read filter that drops every datagram or
// stream chunk from a banned source before sipgo parses it. On a stream
// (TCP, TLS, WebSocket) it returns ErrBanned, on which sipgo closes the
// connection: a server that cannot wrap its listener in Listener (sipgo's
// ListenAndServe) still cuts a banned source, at its next read. It returns
// no other error (one would stop sipgo's UDP loop) and never keeps the
// buffer.
//
// It also drops each UDP datagram that sipgo's parser would refuse, before
// sipgo logs the whole of it: a request, or what cannot be SIP at all,
// becomes a signalling event for g (detect.Event.Malformed says why); a
// response is dropped uncounted, since it may be a peer's quirk in answer
// to the server's own request, and banning a peer for it would cut off its
// requests too. Keep-alives sipgo takes as such (up to 4 bytes of CR and
// LF) pass; longer runs of CR, LF and NUL, which sipgo would log as
// unparseable, are dropped uncounted. Everything sipgo accepts passes
// unchanged, without allocating.
func ReadFilter(g *ban.Guard) sip.TransportReadFilter { return readFilter(NewFilter(g)) }

func readFilter(f *Filter) sip.TransportReadFilter {
	g := f.g
	return func(info sip.TransportReadProps, data []byte) ([]byte, error) {
		ap, ok := addrPort(info.RemoteAddr)
		if !ok {
			return data, nil
		}
		udp := info.Transport == "udp" || info.Transport == "UDP"
		if g.Banned(ap.Addr()) {
			f.drop(len(data), !udp)
			if !udp {
				return nil, ErrBanned
			}
			return nil, nil
		}
		if udp {
			if why := refusal(data); why != "" {
				if ev, ok := malformed(ap, data, why); ok {
					observe(g, &ev)
				}
				return nil, nil
			}
		}
		return data, nil
	}
}

func addrPort(a net.Addr) (netip.AddrPort, bool) {
	switch a := a.(type) {
	case *net.UDPAddr:
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), ap.Addr().IsValid()
	case *net.TCPAddr:
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), ap.Addr().IsValid()
	case nil:
		return netip.AddrPort{}, false
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
}

// malformed returns the event for a datagram sipgo refuses for why, and
// whether to count it: not for a keep-alive nor a response. The fields
// sipparse.Parse could read name the sender.
func malformed(src netip.AddrPort, data []byte, why string) (detect.Event, bool) {
	ev := detect.Event{Source: src, Transport: "udp", Malformed: why}
	switch err := sipparse.Sniff(data); {
	case errors.Is(err, sipparse.ErrKeepAlive):
		return ev, false
	case err != nil:
		return ev, true // Not SIP at all: nothing to read.
	}
	var m sipparse.Message
	_ = sipparse.Parse(data, &m) // Its error is why sipgo refuses, or beside it.
	if !m.Request {
		return ev, false
	}
	ev.Method = method(m.Method)
	ev.Target = string(m.RequestURI.User)
	ev.Credentials = m.Auth.Present
	switch {
	case m.Auth.Username != nil:
		ev.Account = string(m.Auth.Username)
	case ev.Method == sip.REGISTER.String():
		ev.Account = string(m.To.URI.User)
	default:
		ev.Account = string(m.From.URI.User)
	}
	ev.UserAgent = string(m.UserAgent)
	ev.CallID = string(m.CallID)
	return ev, true
}

// method returns m in upper case, as sipgo gives it to Wrap; the usual
// methods without allocating.
func method(m []byte) string {
	for _, k := range methods {
		if asciiFold(m, k) {
			return k
		}
	}
	return strings.ToUpper(string(m))
}

var methods = [...]string{"REGISTER", "INVITE", "OPTIONS", "ACK", "BYE", "CANCEL",
	"SUBSCRIBE", "NOTIFY", "MESSAGE", "INFO", "PRACK", "UPDATE", "REFER", "PUBLISH"}
