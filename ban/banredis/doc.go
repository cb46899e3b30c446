// Package banredis shares a fleet of SIP edges' bans and offence counts
// through Redis. Fleet is a ban.Fleet, so that a ban made on one edge holds
// on every edge and a lift made on one lifts it everywhere. Counter is a
// detect.Detector counting proven rejected credentials across the fleet,
// so that guessing spread over the edges is caught like guessing at one.
//
// # Data model
//
// Every name starts with Options.Prefix ("sipban:" by default).
//
//   - rec:SUBJECT (a hash, one per active record; SUBJECT as
//     detect.Subject.String writes it, such as rec:203.0.113.7 or
//     rec:alice@*): field until is the record's Until in Unix milliseconds,
//     edge the edge that made it, rec the ban.StoredRecord in JSON. The key
//     expires at Until (PEXPIREAT): Redis forgets a ban when it ends, even
//     if no edge is left to lift it.
//   - changes (a pub/sub channel): every record put and every lift, in
//     JSON, {"edge":…, "op":"record", "record":{…}} or {"edge":…,
//     "op":"end", "offence":{…}}. Follow skips its own edge's.
//
// A record is put, and published, by one Lua script, so that a follower
// never gets the message without the key nor a key without its TTL; a
// lift deletes the key only if it still holds the lifted record (its
// until), and is published unless another record now stands there, so a
// lift of an old ban never ends a newer one. Share sends a whole batch in
// one pipeline: one round trip. JSON is cheap beside that round trip: a
// record of 393 bytes encodes in 2.5 to 4.9 µs and decodes in 7.6 to 9.8
// µs (BenchmarkCodec); a batch of 1,000 records is shared in 14 to 25 ms
// (BenchmarkShareBatch), and one record reaches another edge's Follow in a
// median of 0.085 to 0.11 ms, 0.26 to 1.7 ms at the 99th percentile, on
// loopback (BenchmarkPropagation, 1,000 records a run).
//
// Follow subscribes, waits for the server's confirmation, then reads every
// rec: key (SCAN, then HMGET in pipelines of 1,000): a record changed
// meanwhile arrives both ways, never neither. Any failure (a lost
// connection, a restarted server, a Ping unanswered for Options.Ping)
// closes the connection; the next one, after a doubling backoff, resyncs
// again. Failures are logged once per streak.
//
// What Redis holds is trusted infrastructure, but it is read defensively:
// a key or a message that does not decode, is larger than 64 KiB, names an
// invalid subject or holds a record on another subject than its key is
// skipped, counted in Stats.Skipped and logged at most once a minute.
//
// # Fleet-wide offence counting
//
// A Counter counts, per address (or IPv6 prefix) and per account, the
// proven rejected credentials (detect.Event's Proven and Rejected) of every
// edge, in buckets of a third of the window (BadCredentials' and
// AccountCredentials' in CounterOptions.Limits, 10 minutes by default): an
// event counts for at least the window and at most 4/3 of it, as in the
// standard detector. Keys, each expiring 4 buckets and a minute after
// it was made:
//
//   - fail:addr:{SUBJECT}:BUCKET: an address's count in one bucket (a
//     string incremented by INCRBY);
//   - fail:acct:{ACCOUNT}:BUCKET: an account's count;
//   - fail:src:{ACCOUNT}:BUCKET: a set of the account's failing sources,
//     at most 8 per bucket, so that a botnet's million addresses cost 8.
//
// BUCKET is the bucket's number since the Unix epoch; the braces keep a
// subject's keys in one Redis Cluster slot. One Lua script per subject adds
// the increments and reads its four buckets back.
//
// Observe never waits on Redis: it updates a local cache and queues the
// increment, coalesced per subject and bucket. Run sends the queue every
// CounterOptions.Interval (5 ms) in one pipeline, and the replies refresh
// the cached fleet totals. The fleet count an edge judges by is so behind
// by at most one Interval and one round trip, and an edge that never saw a
// subject knows the fleet's count from the reply to its first event on it:
// its second event can be found. A Counter reports an address when the
// fleet total reaches BadCredentials' threshold (5), and guards an
// account anywhere when its total reaches AccountCredentials' (5) from two
// sources or more; in both cases only when other edges' counts take part,
// since guessing at one edge alone is the standard detector's to judge,
// with its kinder verdicts for devices. An address with a proven login
// within TrustWindow at this edge is guarded, not banned, so that its known
// devices keep working. Unproven events never count: a forged UDP source
// cannot add to what bans an address fleet-wide. After Forget (a ban or a
// guard was made), the subject's counts start afresh in Redis too.
//
// Cost per event, from BenchmarkObserve (AMD EPYC, 2 cores, shared with
// other work; the ranges are of runs at loads of 1 to 10): an event that
// is neither a proven failure nor a proven login returns after a few
// comparisons, 2.5 to 8 ns; a proven login costs 78 to 160 ns, a proven
// failure 0.5 to 1 µs; none allocates unless a finding is returned. Each
// subject with new counts costs one script call in the next flush.
//
// When Redis is down, Observe goes on as before and never blocks: the
// cached fleet counts and this edge's own still add up, so guessing the
// fleet had counted before is still found, and the edge's own detectors
// judge the rest. The queue waits, bounded, and is sent when Redis is back
// (the counts of buckets still in the window); the fleet's counts stop
// growing meanwhile. Failures are logged once per streak.
package banredis
