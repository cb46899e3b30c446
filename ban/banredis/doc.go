// Package banredis shares a fleet of SIP edges' bans through Redis: Fleet
// is a ban.Fleet, so that a ban made on one edge holds on every edge and a
// lift made on one lifts it everywhere.
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
// one pipeline: one round trip.
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
package banredis
