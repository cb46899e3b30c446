// Package detect turns what a SIP server sees into findings.
//
// An Event is one completed SIP transaction as the server saw it; its
// Source comes from the connection, never from Via, From or Contact. A
// Detector reads events and returns a Finding when a subject crosses a limit.
// Standard covers the patterns every SIP service meets, with one compact,
// bounded record per source (about 126 bytes):
//
//   - BadCredentials: credentials presented and rejected. The ordinary digest
//     challenge is not a failure. Counted per address and per account at the
//     address, so one mistyped phone is told from password guessing.
//   - StaleAccount and Enumeration: requests for accounts that do not exist.
//     Few names retried at a regular interval are a stale device; many
//     distinct names, or challenges never answered, are a scan.
//   - CallRate: call attempts above a rate with burst tolerance, answered
//     calls counting a quarter, so that dialer scripts stand out.
//   - Signalling: calls refused as sent and unreadable requests.
//   - Scanner: known scanner User-Agents and OPTIONS sweeps.
//
// The thresholds are Limits; see DefaultLimits. A caller adds detectors of
// its own by implementing Detector or with Func.
package detect
