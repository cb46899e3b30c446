// Package sipgoban wires a ban.Guard into a github.com/emiago/sipgo server.
//
// Two pieces: Option installs a transport read filter that drops packets from
// banned sources before sipgo parses them, and Wrap wraps each request handler
// so that every transaction becomes a detect.Event. sipgo has no response
// middleware, so Wrap hands the handler a transaction that reports the
// final status it sends. The Guard judges before that response leaves: a
// ban is in place, in memory and in the kernel enforcers, by the time the
// client reads the answer that caused it.
//
//	g, _ := ban.New(ban.Options{})
//	ua, _ := sipgo.NewUA(sipgoban.Option(g))
//	srv, _ := sipgo.NewServer(ua)
//	srv.OnRegister(sipgoban.Wrap(g, onRegister))
//	srv.OnInvite(sipgoban.Wrap(g, onInvite))
//	go g.Run(ctx)
package sipgoban
