// Package banbolt is a ban.Store in one file on local disk, built on bbolt
// (go.etcd.io/bbolt): what a Guard must not lose when its process ends —
// active records with their evidence, each subject's last offence, the
// devices that logged in with proof, and customers' lifts and probations.
//
//	s, err := banbolt.Open("/var/lib/sipban/bans.db", nil)
//	if err != nil {
//		return err // a file it refuses is left as it is
//	}
//	defer s.Close()
//
// # File format
//
// One bbolt file with six buckets: meta (the magic "sipban store" and the
// format Version, written when the file is made), records and offences
// keyed by subject, devices keyed by address, account and User-Agent,
// lifts keyed by subject and the lift's instant, and failures keyed by a
// sequence, so that they load in the order written. A file made before
// failures were kept gets that bucket with its first failure; older
// versions of this package read a file that has it. Keys are the subject's
// bytes (kind, address, prefix bits, account), not detect.Subject.String,
// which writes an IPv4-mapped address and an unmasked prefix the way it
// writes others; a key longer than 1 KiB (a very long account or
// User-Agent) is stored as its SHA-256, the key itself leading the value.
// Values are binary: varints, length-prefixed strings, times as Unix
// seconds and nanoseconds (read back in UTC). A device's value is its last
// login, then its port and +sip.instance, then its Contact; one written
// before those were kept ends after the login, or the instance, and reads
// without them. A new file is made beside
// the path and linked into place, so a file at the path always has its meta.
//
// # Durability
//
// Each Write is one bbolt transaction, which bbolt fsyncs when it commits:
// a batch is on disk when Write returns nil, and after a crash at any point
// either all of it is there or none (TestCrash kills a writer 100 times).
// A Write that finds the disk full returns the error (ENOSPC) and leaves
// the file as it was (TestFullDisk). bbolt cannot cancel an fsync; ctx is
// checked before a transaction, before it commits and between Load items.
//
// # Errors
//
// Open refuses, naming the path and the cause, and never replaces:
// ErrForeign for a file this package did not write (an empty file, not a
// bbolt file, someone else's bbolt file), ErrVersion for a newer format,
// ErrCorrupt for a file of ours that cannot be read (truncated, a bad
// checksum, pages bbolt cannot read, a missing bucket), ErrLocked when
// another process has it open past Options.Timeout. Load returns ErrCorrupt
// for a value that does not decode. Write and Load after Close return
// ErrClosed. The file is checked read-only before it is opened for
// writing, so a refused file is not written. One case remains: a file
// whose freelist page alone is damaged passes that check, and bbolt panics
// opening it for writing; Open returns ErrCorrupt, but bbolt's mapping of
// the file, and so its lock, stays until the process exits.
//
// # Speed
//
// Measured on the project's 2-core machine (AMD EPYC) while other work
// ran on it (load average 5 to 12), so the spread between runs is wide; the
// lower figures are from the quietest runs. A realistic record (one
// account, one User-Agent, three ports, two statuses, a sentence) is 131
// bytes; encoding/json makes it 440 and reads it 25 to 45 times slower,
// which alone would be 5.5 s or more for a million records:
//
//	BenchmarkDecode/binary   215.6 ns/op   131 bytes   56 B/op    4 allocs/op
//	BenchmarkDecode/json      5517 ns/op   440 bytes  816 B/op   19 allocs/op
//
// A restart (Open, Load of every record, Close) of 100,000 records takes
// 48–240 ms, of 1,000,000 records 0.93–1.8 s (0.45 s for the Load alone,
// the file already open, in a quiet run), with a file of 323 bytes per
// record (bbolt leaves its pages half full). A Write of one batch, fsync
// included: 0.5–6.7 ms for one change, 0.7–4.7 ms for 64, 4.4–29 ms for
// 1,024; the fsync is most of it, and the most a contended disk stretches.
//
// A Store is safe for concurrent use: bbolt runs one write transaction at
// a time and reads beside it.
package banbolt
