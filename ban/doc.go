// Package ban decides and records bans.
//
// A Guard composes detectors (detect.Standard by default), a Policy and
// enforcers (an in-memory one always, kernel ones optionally). For each
// finding it applies the allow-list, chooses the response and its length,
// asks the enforcers to act and keeps a Record with the evidence and a
// Diagnosis that tells the customer what to fix before lifting the ban.
//
// The response is graduated: a pattern of one misconfigured device
// (detect.Finding.Device) at an address where other accounts log in blocks
// only that account at that address (Scope "account"; the sipgo integration
// answers it 403 without checking); attack patterns ban the whole address,
// or the IPv6 /64. Each new ban of the same subject lasts Policy.Factor
// times longer, up to Policy.MaxBanTime.
//
// Kernel enforcers (enforce/nftables, enforce/iptables) keep bans with their
// own timeouts, so bans can outlive the process. Call Guard.Reconcile at
// start-up: it adopts what they hold (cause "unknown", remaining time) so
// that those bans can be seen and lifted, lifts allow-listed ones, and
// installs the Guard's own bans in every enforcer. While the Guard runs,
// Resync (every Options.ResyncEvery, from Run) puts back what the kernel
// lost: a table flushed by a firewall reload, a rule deleted by hand, a ban
// refused while the enforcer was failing, a ban longer than the kernel's
// timeout cap. Options.OnBan hears of
// each new ban, for a notification or a log of one's own.
//
// Package sipgoban wires a Guard into a sipgo server; package bantest sends
// real SIP attacks and honest traffic to any server for its tests.
package ban
