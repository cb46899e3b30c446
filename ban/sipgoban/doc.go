// Package sipgoban wires a ban.Guard into a github.com/emiago/sipgo server.
//
// Option installs a transport read filter that drops packets
// from banned sources before sipgo parses them, and the UDP datagrams
// sipgo's parser would refuse, which it reports to the Guard as malformed.
// Wrap wraps each request handler so that every transaction becomes a
// detect.Event. sipgo has no response middleware, so Wrap hands the handler
// a transaction that reports the final status it sends. The Guard judges
// before that response leaves: a ban is in place, in memory and in the
// kernel enforcers, by the time the client reads the answer that caused it.
// Before a handler runs, Wrap asks the Guard to Admit the request: one for
// an account blocked at its source, or from a stranger to a guarded address
// or account, is answered 403 without a credential check (the latter counted
// as a guess). A handler that checks digest credentials with package sipauth
// calls MarkProven for every verdict over a nonce issued to the source, so
// that the Guard weighs the evidence fully; requests over TCP and TLS are
// proven by their connection.
// On TCP and TLS, Listener cuts a banned source's connections: at accept,
// before any TLS handshake, and at the next read once the source is banned;
// where the listener cannot be wrapped, the read filter cuts them at the
// next read.
// A Filter (NewFilter) is the read filter, Listener and Wrap of one Guard
// with counts of what they drop, cut and refuse, for metrics.
// LogHandler bounds what sipgo logs of the messages it still cannot parse
// (on stream transports), which it otherwise writes whole, once each.
//
//	g, _ := ban.New(ban.Options{})
//	ua, _ := sipgo.NewUA(sipgo.WithUserAgentTransportLayerOptions(
//		sipgoban.TransportOption(g),
//		sip.WithTransportLayerLogger(slog.New(sipgoban.NewLogHandler(slog.Default().Handler(), nil))),
//	))
//	srv, _ := sipgo.NewServer(ua)
//	srv.OnRegister(sipgoban.Wrap(g, onRegister))
//	srv.OnInvite(sipgoban.Wrap(g, onInvite))
//	go g.Run(ctx)
//
// The filter's verdict follows sipgo v1.7.2's parser rule for rule
// (parsecheck.go); the tests and FuzzReadFilter hold it to sip.ParseMessage,
// which an upgrade of sipgo must be checked against. It costs about as much
// as sipparse.Parse, a fifth of sipgo's parse, and allocates nothing for a
// datagram it passes.
package sipgoban
