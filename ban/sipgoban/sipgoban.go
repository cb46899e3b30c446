package sipgoban

import (
	"context"
	"errors"
	"net"
	"net/netip"

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
// stream chunk from a banned source before sipgo parses it. It never returns
// an error (that would stop sipgo's UDP loop) and never keeps the buffer.
// UDP datagrams that cannot be SIP are reported to g as signalling errors and
// dropped.
func ReadFilter(g *ban.Guard) sip.TransportReadFilter {
	return func(info sip.TransportReadProps, data []byte) ([]byte, error) {
		ap, ok := addrPort(info.RemoteAddr)
		if !ok {
			return data, nil
		}
		if g.Banned(ap.Addr()) {
			return nil, nil
		}
		if info.Transport == "udp" || info.Transport == "UDP" {
			if why := junk(data); why != "" {
				ev := detect.Event{Source: ap, Transport: "udp", Malformed: why}
				_ = g.Observe(context.Background(), &ev)
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

// junk says why a datagram cannot be a SIP message, or "" if it may be one.
// Keep-alives pass; sipgo's parser judges the rest.
func junk(data []byte) string {
	switch err := sipparse.Sniff(data); {
	case err == nil, errors.Is(err, sipparse.ErrKeepAlive):
		return ""
	case errors.Is(err, sipparse.ErrTruncated):
		// A datagram is a whole message: an unfinished first line stays so.
		return "first line cut short"
	default:
		return err.Error()
	}
}
