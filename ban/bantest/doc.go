// Package bantest attacks a SIP server with real traffic, to test that it
// bans what it should and nothing else.
//
// A Client sends hand-built SIP requests over UDP, TCP or TLS
// (Dialer.Transport) from a local address of the caller's choosing and
// reports the final status of each, or ErrNoAnswer when the server stays
// silent, as it does to a banned source.
// On Linux every address in 127.0.0.0/8 is local, so one test can play many
// sources: 127.0.0.2 guessing passwords, 127.0.0.3 a healthy phone.
//
// The scenarios are the patterns a SIP service meets: GuessPasswords,
// EnumerateAccounts, ProbeAccounts, FloodInvites, StaleDevice, HealthyPhone
// and Scanner. Each returns a Result counting answered and unanswered
// attempts and the statuses seen.
//
// The package depends on no SIP stack: it tests any server, in Go or not.
// Over TCP and TLS a connection the server closes is silence, as a datagram
// dropped is over UDP. It does not retransmit, so it is meant for loopback
// and other paths that do not lose packets.
package bantest
