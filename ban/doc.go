// Package ban decides and records bans.
//
// A Guard composes detectors (detect.Standard by default), a Policy and
// enforcers (an in-memory one always, kernel ones optionally). For each
// finding it applies the allow-list, chooses the response and its length,
// asks the enforcers to act and keeps a Record with the evidence and a
// Diagnosis that tells the customer what to fix before lifting the ban. The
// diagnosis is rendered when a record is read.
//
// # Diagnosis
//
// A Diagnosis is data first: the customer's cause (CauseOutdated,
// CauseTypo, CauseTestDevice, CausePBX, CauseScript, CauseAttack), a
// confidence, the existing account an unknown one is a typo of
// (DidYouMean), and every device seen at the address in the last day —
// port, User-Agent, Contact, +sip.instance, accounts, failures, successes
// and the requests a guard refused unchecked, which are no failure of the
// device's — with the ones to fix marked Suspect. A device that logged in
// as the account before and fails now has outdated credentials; one that
// never did has a typo; an unknown account near an existing one is a typo
// of it; a deleted or test account from a device that never used it is a
// test device left configured. Options.Directory (the caller's accounts:
// which exist, which were deleted and when, when passwords changed) makes
// those calls surer; without it they are still made. Summary and Advice are
// rendered in the reader's language: Explain takes one of Languages()
// ("en", "de") or the caller's own (Options.Messages), and Language picks
// from an Accept-Language list.
//
// # Lifting
//
// Lift is an operator's. LiftAs is also a customer's: they say which cause
// they fixed, cannot lift an attack (a guard, which refuses only strangers,
// they can, saying they add a device: FixNewDevice), and have
// Policy.SelfLifts per SelfLiftPeriod (3 in 7 days).
// Their lift starts a probation (Policy.Probation, a day): if the cause
// comes back, the second proven failure makes the record again (a guard
// again for a guard, an account's from any address), two levels above the
// lifted one (one as for any repeat offence, one for the broken
// probation; a typo's block: 1 hour, then 4, then 16), so lift–ban–lift
// loops end. Every lift is kept with its subject (Record.Lifts).
//
// # Responses
//
// The response is graduated, so that an office is never cut off for one
// misconfigured phone and an attacker never gets through that kindness:
//
//   - Scope "account": a pattern of one misconfigured device
//     (detect.Finding.Device) at an address where other accounts log in
//     blocks only that account at that address.
//   - Scope "guard": failures spreading over accounts at such an address, or
//     one account failing from several addresses, guard the address or the
//     account. Admit serves its known devices — (address or IPv6 prefix,
//     account, User-Agent) that logged in with proof within
//     Policy.KnownFor — and refuses everything else without a credential
//     check; the sipgo integration answers those 403 and reports them as
//     guesses, so a source that keeps trying is banned sooner. Lifting a
//     guard lets a new device enrol at its first login.
//   - Scope "address": attack patterns ban the whole address, or the IPv6
//     /64; Policy.Aggregate6 bans a /48 once 4 of its /64s are banned
//     (Aggregate4 does the same for IPv4 /24s, off by default).
//
// Each new record of the same subject lasts Policy.Factor times longer, up
// to Policy.MaxBanTime.
//
// # Trust and proof
//
// A UDP source can be forged. Evidence counts fully only when its sender
// proved it receives the server's answers (detect.Event.Proven: a nonce
// issued to that address by package sipauth, or a connection). Evidence
// without proof never bans an address, nor blocks an account, that has a
// recent proven login, and only proven logins make devices known. At an
// address where a device logged in with proof within Policy.KnownFor, but
// not recently (a phone off for the night), it guards the address instead:
// its known devices keep working and nothing is banned, whatever account or
// User-Agent the evidence names, since a forged source can copy those.
//
// # Limits fail closed
//
// At Policy.MaxBans active records, a finding with proof evicts the record
// that ends soonest, one made without proof first; a finding without proof
// is refused (ErrTooManyBans), logged once per Options.LogEvery with a count:
// forged sources can fill the table, but a fresh attacker who reads our
// answers is still banned at the threshold, and one who does not cannot
// have a password checked. Known devices (Policy.MaxKnown, and as many
// addresses they logged in at, 37 bytes each) forget the least recently
// proven; under a guard a forgotten device is refused, and evidence without
// proof at a forgotten address bans it. Page lists
// records in bounded memory.
//
// A record keeps a capped sample of its evidence (8 of each list; account
// names cut to 64 bytes, User-Agents to 128, the detail to 512), packed with
// its strings interned: about 230 bytes per active ban with the in-memory
// enforcer's entry, for IPv4 addresses and IPv6 /64s alike (230 MB at the
// default MaxBans). Evidence naming several accounts, agents or addresses
// is kept whole beside the record, within those caps. The standard detector
// holds its own table of the sources it tracks (detect.Limits.MaxSources).
//
// # Kernel enforcers
//
// Kernel enforcers (enforce/nftables, enforce/iptables) keep bans with their
// own timeouts, so bans can outlive the process. A ban holds in memory at
// once; the kernel is waited for at most Options.EnforceTimeout, so that a
// slow kernel cannot stall SIP handling. Call Guard.Reconcile at start-up:
// it adopts what they hold (cause "unknown", remaining time) so that those
// bans can be seen and lifted, lifts allow-listed ones, and installs the
// Guard's own bans in every enforcer. While the Guard runs, Resync (every
// Options.ResyncEvery, from Run) puts back what the kernel lost: a table
// flushed by a firewall reload, a rule deleted by hand, a ban refused or
// late while the enforcer was failing, a ban longer than the kernel's
// timeout cap. Options.OnBan hears of each new record, for a notification
// or a log of one's own.
//
// # State and fleets
//
// Options.Store keeps what a restart must not lose: the active records with
// their evidence, the offence history (aged after Policy.ForgetAfter), the
// devices known by proven logins, customers' lifts and probations, and the
// failures with proof the detectors are counting (16 per source per 10
// minutes at most, for the longest window, a day), which Restore replays
// into them: four guesses, a restart, and the fifth bans, as if nothing had
// happened. Like a record, a failure is kept once the store acknowledges
// it, after its answer left. Package banbolt is a Store in one local file.
// The Guard writes from goroutines of its own, in batches, the failures in
// a queue apart so they never crowd out a record: a disk's fsync never
// delays an answer. Events that change nothing write nothing; a device
// logging in again is written at most every 15 minutes. Flush says when
// everything made so far is stored; a store that fails is retried, the
// records it holds up say so (Record.StoreError) and the bans hold
// meanwhile. At start-up call Restore, then Reconcile: the bans are back in
// every enforcer, and those a kernel set kept are matched to their records
// instead of being adopted as "unknown". The devices an explanation lists
// are the ones seen live, so after a restart they reappear as they register
// again.
//
// Options.Fleet shares records among the edges of one service (package
// banredis): a ban made on one edge holds on every edge, a lift lifts it
// everywhere, and each edge judges what arrives by its own allow-list and
// bounds.
//
// Package sipgoban wires a Guard into a sipgo server; package bantest sends
// real SIP attacks and honest traffic to any server for its tests.
package ban
