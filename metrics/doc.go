// Package metrics exposes sipban's counts to Prometheus. The core packages
// (ban, detect, enforce, sipparse, watch) do not import it: it reads their
// counts at scrape time, or sits on their seams (a detect.Detector, an
// enforce.Enforcer wrapper).
//
//	events := &metrics.Events{} // last in ban.Options.Detectors
//	ens := metrics.NewEnforcers()
//	nft = ens.Wrap("nftables", nft) // in ban.Options.Enforcers
//	g, _ := ban.New(ban.Options{Detectors: []detect.Detector{events}, Enforcers: []enforce.Enforcer{nft}})
//	f := sipgoban.NewFilter(g) // serve through it
//	ens.Count("memory", f)
//	reg.MustRegister(events, ens, metrics.Guard(g), metrics.Filter(f))
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// The metrics, all counters unless marked:
//
//	sipban_events_total{method,class}        Events: transactions judged; method is one of the
//	                                         14 common ones or "other", class 1xx..6xx, "none"
//	                                         (no final answer) or "other"
//	sipban_events_guarded_total              Events: requests a guard refused unchecked
//	sipban_findings_total{cause}             Events: findings of the detectors before it
//	sipban_records_active{scope,cause}       Guard (gauge): records in force
//	sipban_records_made_total{scope,cause}   Guard: records made
//	sipban_records_lifted_total              Guard: lifted by an operator or a customer
//	sipban_records_expired_total             Guard: ran out
//	sipban_records_refused_total             Guard: findings refused at the full table
//	sipban_records_evicted_total             Guard: evicted at the full table
//	sipban_guard_events_total                Guard: events observed
//	sipban_guard_events_invalid_total        Guard: events that could not be judged
//	sipban_guard_enforce_errors_total        Guard: enforcer calls failed or timed out
//	sipban_enforcer_duration_seconds{enforcer,op}  Enforcers (histogram): operation latency
//	sipban_enforcer_errors_total{enforcer,op}      Enforcers: operations failed
//	sipban_dropped_packets_total{enforcer}   Enforcers: wrapped enforce.Counters and Count's
//	sipban_dropped_bytes_total{enforcer}     the same, in bytes
//	sipban_requests_refused_total{by}        Filter: refused unchecked by a "block" or a "guard"
//	sipban_connections_cut_total             Filter: banned sources' connections closed
//	sipban_watch_messages_total              Pairing: SIP messages read
//	sipban_watch_pairing_total{outcome}      Pairing: paired, unanswered, evicted, ...
//	sipban_watch_nonces_total{outcome}       Pairing: remembered, evicted, proven
//	sipban_hep_packets_total{outcome}        HEP: sip, unsupported, refused
//	sipban_hep_connections_total{outcome}    HEP: served, full
//
// Scopes are "address", "account" and "guard"; causes are detect.Cause
// names. Label values never come from what a sender chose.
//
// Bans per minute by cause, and guesses refused unchecked per second:
//
//	sum by (cause) (rate(sipban_records_made_total{scope="address"}[5m])) * 60
//	sum by (by) (rate(sipban_requests_refused_total[5m]))
package metrics
