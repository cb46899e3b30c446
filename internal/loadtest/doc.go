// Package loadtest measures the REGISTER throughput of a sipgo server with
// and without sipban, and under a flood from banned sources, on loopback.
//
// Server builds one registrar (sipgo, digest authentication by package
// sipauth) either plain or protected by a ban.Guard through package
// sipgoban (the read filter and Wrap); nothing else differs. Client is a
// phone that does REGISTER, the 401 challenge, REGISTER with digest
// credentials, 200, retransmitting every T1 when unanswered. Flood sends
// password guesses from many sources at a paced rate with sendmmsg, and
// BanByGuessing gets those sources banned by the Guard the way attackers
// are: five wrong passwords over nonces issued to them.
//
// BenchmarkRegister runs, in interleaved rounds (-loadtest.rounds, 5 by
// default, so that a slow spell on a shared machine falls on every
// variant), with 16 phones on 127.0.0.1, each on its own socket:
//
//	plain                  the server without sipban
//	sipban                 the same server protected
//	sipban-flood-memory    protected, with FloodRate (50,000) datagrams a second from
//	                       49 banned sources, 127.0.0.2 to 127.0.0.50, which the read
//	                       filter drops after the socket
//	sipban-flood-nftables  the same with the nftables enforcer: the kernel drops the
//	                       flood at prerouting, before the socket
//
// One op is one completed registration, and each run starts a fresh
// server. Use a fixed count (-benchtime 20000x): sipgo keeps a completed
// UDP transaction for 32 s (Timer J), so the heap, and the collector's
// work per op, grow with the run's length, and equal runs keep the
// variants comparable. Metrics: regs/s (wall clock); cpu-µs/op, the
// process's CPU time (server, phones and flood together) per registration,
// which holds better than the rate when other processes take the cores;
// flood-cpu-µs/op, the flood's own thread, which on loopback includes the
// kernel's work for each datagram up to its drop; flood-dps, the rate the
// flood achieved; retransmits/op; and rcvbuf-drops/s, the namespace's UDP
// datagrams dropped at a full receive buffer (/proc/net/snmp).
//
// With -loadtest.split the server and the phones run on CPU 0 and the flood
// on CPU 1, and loopback's receive work is steered to CPU 0 (RPS, in the
// namespace's own sysfs): as on a real host, where the attacker's sending
// is not on the server's cores but the kernel's work for each datagram up
// to its drop is. Without it all share both cores, and loopback does that
// work in the sender's system call. It needs SIPBAN_NETNS=1 and CPUs 0 and
// 1.
//
// The nftables variant needs root and runs, like every kernel test here, in
// a network namespace of its own (package netnstest): selected by
// SIPBAN_NETNS=1, skipped without it, failing if selected but impossible.
// Then every variant runs in that namespace. TestHarness checks, without
// root and in about a second, that both servers register phones, that only
// the protected one bans wrong passwords, and that the flood from banned
// sources gets no answer.
//
//	go test ./internal/loadtest
//	SIPBAN_NETNS=1 go test -run '^$' -bench Register -benchtime 20000x ./internal/loadtest
//	SIPBAN_NETNS=1 go test -run '^$' -bench Register -benchtime 20000x ./internal/loadtest -loadtest.split
//	SIPBAN_NETNS=1 go test -run '^$' -bench 'Register/^sipban(#[0-9]+)?$' -benchtime 20000x -cpuprofile cpu.prof ./internal/loadtest -loadtest.rounds=3
//
// The test flag goes after the package, with "=": go test would take a
// separate value for a package.
//
// # Numbers
//
// On a 2-core AMD EPYC VM shared with other engineers' builds and tests,
// one run of 5 rounds split (-loadtest.split) and then one shared, medians
// (every line as printed is in the message of the commit that added these
// numbers):
//
//	                       split                   shared
//	                       regs/s  cpu-µs/op       regs/s  cpu-µs/op
//	plain                    8046      124.1        12779      131.4
//	sipban                   7494      133.2        11651      143.7
//	sipban-flood-memory      2635      347.1         2236      326.8
//	sipban-flood-nftables    5824      216.6         8154      189.5
//
// Rates swing with the other load, so per-round ratios scatter; CPU per
// registration is steadier, but drifts too: ten runs of the sipban variant
// alone, interleaved with the code of the day before, gave 124.6 to 164.1
// µs (132.3 to 161.0 before).
//
// Protected over plain: 0.87 split and 0.95 shared (medians of the
// per-round rate ratios; 0.76 to 1.02 across rounds), against the issue's
// 0.95; runs the day before gave 0.91 to 0.95, and a second run the same
// day, after sipgoban.Event lost 11 of its allocations, 0.97 split and
// 0.86 shared (0.81 to 1.09; CPU per registration 139.6 against 142.3
// split, 136.7 against 125.2 shared). sipban costs 7% to 9% more
// CPU per registration in this run (1.5% to 10% in earlier ones), phones
// included: building the event (sipgoban.Event: header lookups, URIs
// formatted as strings, 2.4% of the process in the profile, before it
// lost 11 allocations), Guard.Observe, and the read filter's check of what
// sipgo would refuse (1.6%); 12 more allocations per registration (396
// against 384; 421 before) feed the collector. Each
// request's fresh goroutine grows its stack (runtime.newstack, 7.6% of the
// process) as much without sipban as with it: sipgo's goroutine per
// request, not sipban's frames.
//
// The flood dropped by nftables costs the server's process little of its
// own: 164.5 µs per registration less the flood's thread, shared, against
// 143.7 without a flood. The kernel's path for each datagram up to its
// drop is what costs. Shared, loopback runs it in the sender's system call
// on the same two cores, and the rate falls to 0.82 of the protected
// server's (median per-round ratio, 0.65 to 0.96). Split, as on a real
// host, the server's CPU pays it, and the rate falls to 0.81 (0.63 to
// 0.86; 0.74 in the second run), against the 0.90. Sampled on CPU 0 (perf record -e
// cpu-clock -C 0) during a split run, softirq work took 24.6% of the core
// with the flood against 3.1% without: the receive path itself
// (net_rx_action, ip_rcv, nftables' lookup in nf_hook_slow) 7.4% against
// 2.8%, and 17 points sampled in handle_softirqs itself, entered from the
// interrupt RPS sends CPU 0 for each datagram (sysvec_call_function_single,
// 21%), which a VM makes dear: a NIC's interrupt, with NAPI, brings many
// packets at once. Dropping earlier (netdev ingress) would save only the
// part of those 4.6 points before prerouting. With the in-memory enforcer,
// the server's one reader goroutine reads and drops every datagram, its
// socket buffer overflows, legitimate datagrams among the dropped, and the
// retransmissions after T1 cut the rate to 0.38 split (0.19 shared).
package loadtest
