package detect

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Event is one completed SIP transaction as the server saw it.
//
// Source and Transport come from the connection the request arrived on, never
// from Via, From or Contact: those are chosen by the sender and are evidence only.
// Strings may point into a caller's buffer; a Detector must copy what it keeps.
type Event struct {
	// Time is when the final response was sent. The zero value means "now".
	Time time.Time
	// Source is the transport's remote address and port.
	Source netip.AddrPort
	// Transport is "udp", "tcp", "tls", "ws" or "wss", lower case.
	Transport string
	// Method is the request method, upper case ("REGISTER", "INVITE", ...).
	Method string
	// Status is the final status code sent; 0 means none was sent.
	Status int
	// Account is the Authorization username, else the From (or, for REGISTER,
	// the To) user part.
	Account string
	// Credentials reports whether the request carried Authorization or
	// Proxy-Authorization.
	Credentials bool
	// Proven reports that the sender showed it receives the server's
	// answers at Source: its credentials were computed over a fresh nonce
	// issued to that very address (see package sipauth), or it came over a
	// connection (TCP, TLS, WebSocket). A UDP source can be forged; evidence
	// without proof never bans an address with a recent proven login.
	Proven bool
	// UnknownAccount reports that the server rejected the request because the
	// account does not exist. A REGISTER answered 404 implies it.
	UnknownAccount bool
	// Guarded reports that a guard refused the request (answered 403)
	// without checking its credentials: its source is not a known device of
	// a guarded address or account. It counts as a guess at the address,
	// once: refused unchecked, it taught the sender nothing.
	Guarded bool
	// Target is the Request-URI user part (the number called, the user probed).
	Target    string
	UserAgent string
	CallID    string
	Contact   string
	// Instance is the Contact's +sip.instance (RFC 5626), without quotes:
	// what tells one device from another behind one address and User-Agent.
	Instance string
	// Malformed is non-empty when the request could not be read; it says why.
	Malformed string
}

// ErrInvalidEvent is wrapped by errors about events that cannot be judged.
var ErrInvalidEvent = errors.New("detect: invalid event")

// Validate reports whether ev can be attributed to a source.
func (ev *Event) Validate() error {
	if !ev.Source.Addr().IsValid() {
		return fmt.Errorf("%w: no source address", ErrInvalidEvent)
	}
	return nil
}

// Rejected reports whether ev presented credentials that the server refused,
// or was refused by a guard. The ordinary digest challenge (no credentials,
// answered 401 or 407) is not a rejection.
func (ev *Event) Rejected() bool {
	return ev.Guarded || ev.Credentials && (ev.Status == 401 || ev.Status == 403 || ev.Status == 407)
}

// Unknown reports whether ev asked for an account that does not exist.
func (ev *Event) Unknown() bool {
	return ev.UnknownAccount || (ev.Status == 404 && ev.Method == "REGISTER")
}

// Failed reports whether ev failed as the detectors count failures:
// credentials rejected or refused by a guard, an unknown account, an INVITE
// refused as sent, or a request that could not be read.
func (ev *Event) Failed() bool {
	return ev.Rejected() || ev.Unknown() || ev.Malformed != "" || ev.Method == "INVITE" && signallingStatus(ev.Status)
}

// Challenged reports whether ev is the first half of a digest exchange: no
// credentials, answered 401 or 407.
func (ev *Event) Challenged() bool {
	return !ev.Credentials && (ev.Status == 401 || ev.Status == 407)
}

// Authenticated reports whether ev presented credentials that were accepted.
// Any final answer other than a refusal counts: an authenticated INVITE may
// still be answered 480 or 486.
func (ev *Event) Authenticated() bool {
	return ev.Credentials && ev.Status >= 200 && !ev.Rejected() && !ev.Unknown() && ev.Malformed == ""
}

// Cause names why a subject was found misbehaving.
type Cause uint8

// The causes the standard detectors find. Custom detectors may use these or
// values from CauseCustom upward.
const (
	// CauseUnknown is the zero Cause: a ban whose reason was not kept, such as
	// one adopted from a kernel set after a restart.
	CauseUnknown Cause = iota
	// BadCredentials: credentials presented and rejected.
	BadCredentials
	// StaleAccount: a device keeps using an account that does not exist.
	StaleAccount
	// Enumeration: many distinct account names probed.
	Enumeration
	// CallRate: call attempts too fast, mostly unanswered (a dialer script).
	CallRate
	// Signalling: requests the server could not accept as sent.
	Signalling
	// Scanner: a known scanner User-Agent or an OPTIONS sweep.
	Scanner
	// CauseCustom is the first value free for callers' own detectors.
	CauseCustom Cause = 64
)

var causeNames = [...]string{
	CauseUnknown:   "unknown",
	BadCredentials: "bad-credentials",
	StaleAccount:   "stale-account",
	Enumeration:    "enumeration",
	CallRate:       "call-rate",
	Signalling:     "signalling",
	Scanner:        "scanner",
}

// Causes lists the causes of the standard detectors.
func Causes() []Cause {
	return []Cause{BadCredentials, StaleAccount, Enumeration, CallRate, Signalling, Scanner}
}

// String returns the cause's name, such as "bad-credentials".
func (c Cause) String() string {
	if int(c) < len(causeNames) && causeNames[c] != "" {
		return causeNames[c]
	}
	return fmt.Sprintf("cause-%d", uint8(c))
}

// MarshalText encodes the cause as its name.
func (c Cause) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText decodes a name written by MarshalText.
func (c *Cause) UnmarshalText(b []byte) error {
	s := string(b)
	for i, n := range causeNames {
		if n == s {
			*c = Cause(i)
			return nil
		}
	}
	var n uint8
	if _, err := fmt.Sscanf(s, "cause-%d", &n); err == nil && n != 0 {
		*c = Cause(n)
		return nil
	}
	return fmt.Errorf("detect: unknown cause %q", s)
}

// Subject is what a ban or guard applies to: an address or prefix, one
// account at it, or one account from anywhere (Prefix invalid, written
// "alice@*"). The zero Subject is invalid.
type Subject struct {
	// Prefix is a single address (/32, /128) or a prefix (such as an IPv6
	// /64); the zero Prefix, with Account set, means every address.
	Prefix netip.Prefix
	// Account, when set, narrows the subject to requests for this account from Prefix.
	Account string
}

// SubjectOf returns the subject covering addr alone.
func SubjectOf(addr netip.Addr) Subject {
	addr = addr.Unmap().WithZone("")
	return Subject{Prefix: netip.PrefixFrom(addr, addr.BitLen())}
}

// IsValid reports whether s names a valid prefix, or an account anywhere.
func (s Subject) IsValid() bool { return s.Prefix.IsValid() || s.Account != "" }

// Anywhere reports whether s is one account from every address.
func (s Subject) Anywhere() bool { return !s.Prefix.IsValid() && s.Account != "" }

// String formats s as "203.0.113.7", "2001:db8::/64", "alice@203.0.113.7"
// or "alice@*".
func (s Subject) String() string {
	if s.Anywhere() {
		return s.Account + "@*"
	}
	if !s.Prefix.IsValid() {
		return "invalid"
	}
	p := s.Prefix.String()
	if s.Prefix.IsSingleIP() {
		p = s.Prefix.Addr().String()
	}
	if s.Account != "" {
		return s.Account + "@" + p
	}
	return p
}

// subjectForms names what ParseSubject reads, for its errors.
const subjectForms = "an address, a prefix (203.0.113.0/24), account@address, account@prefix or account@*"

// ParseSubject parses the forms String writes. A bare address is a single-IP prefix.
func ParseSubject(s string) (Subject, error) {
	in := s
	var sub Subject
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		sub.Account, s = s[:i], s[i+1:]
		if sub.Account == "" {
			return Subject{}, fmt.Errorf("detect: subject %q: empty account", s)
		}
		if s == "*" {
			return sub, nil
		}
	}
	if strings.IndexByte(s, '/') >= 0 {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return Subject{}, fmt.Errorf("detect: subject %q is not %s: %w", in, subjectForms, err)
		}
		if p.Addr().Is4In6() {
			return Subject{}, fmt.Errorf("detect: subject %q: use the IPv4 form", s)
		}
		sub.Prefix = p.Masked()
		return sub, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return Subject{}, fmt.Errorf("detect: subject %q is not %s: %w", in, subjectForms, err)
	}
	if a.Zone() != "" {
		return Subject{}, fmt.Errorf("detect: subject %q: zones are not allowed", s)
	}
	a = a.Unmap()
	sub.Prefix = netip.PrefixFrom(a, a.BitLen())
	return sub, nil
}

// MarshalText encodes s as String does.
func (s Subject) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes what MarshalText wrote.
func (s *Subject) UnmarshalText(b []byte) error {
	v, err := ParseSubject(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Finding is a detector's verdict: subject crossed a limit for cause.
type Finding struct {
	Cause Cause
	// Subject is the address or prefix the detector counted, with Account set
	// when the pattern concerns one account there.
	Subject Subject
	// Device reports a pattern typical of one misconfigured device (a typo, a
	// deleted account, a wrong dial plan) rather than an attack. A policy may then
	// block only Subject's account when other accounts work from the same address.
	Device bool
	// OthersOK reports that other accounts authenticated from the same
	// address recently: it carries working devices that a full ban would cut off.
	OthersOK bool
	// Guard asks for a guard rather than a ban: the subject's known devices
	// keep being served, everything else from it is refused unchecked.
	Guard bool
	// Proven reports that the deciding event was proven (Event.Proven).
	Proven bool
	// Trusted reports that the address had a recent proven login. A policy
	// may guard it rather than ban it when the device that failed is not
	// one of those that logged in.
	Trusted bool
	// Hold is the least time the response should last: how long the
	// evidence stays counted (a long window), so that a ban does not end
	// while the count that caused it still stands.
	Hold     time.Duration
	Evidence Evidence
}

// Evidence is what a detector saw, for people to read.
type Evidence struct {
	// Count is how many events counted toward the finding.
	Count int `json:"count"`
	// First is when the source was first seen; Last, the event that decided.
	First time.Time `json:"first_seen"`
	Last  time.Time `json:"last_seen"`
	// Accounts holds a sample of the account names involved.
	Accounts []string `json:"accounts,omitempty"`
	// DistinctAccounts estimates how many different accounts were involved.
	DistinctAccounts int `json:"distinct_accounts,omitempty"`
	// Addresses holds a sample of the sources involved, for a finding on
	// one account from anywhere.
	Addresses  []netip.Addr `json:"addresses,omitempty"`
	UserAgents []string     `json:"user_agents,omitempty"`
	// Ports holds the deciding event's source port, after the address's
	// first one for a finding on a whole address where no login succeeded.
	Ports []uint16 `json:"ports,omitempty"`
	// Statuses holds the status codes the server answered.
	Statuses []int `json:"statuses,omitempty"`
	// Interval is the typical gap between attempts, for a device that retries.
	Interval time.Duration `json:"interval,omitempty"`
	// Unanswered is the share of call attempts that were not answered.
	Unanswered float64 `json:"unanswered,omitempty"`
	// Detail is one sentence on what was seen.
	Detail string `json:"detail"`
}

// Forgetter is implemented by detectors that count toward findings. A Guard
// calls Forget when it bans, blocks or guards a subject, so that counting
// starts afresh when that ends, and with lifted set when a person lifts it,
// which also clears what is kept across bans (the long windows).
type Forgetter interface {
	Forget(sub Subject, lifted bool)
}

// Truster is implemented by detectors that remember proven logins, as
// Standard does for Limits.TrustWindow. A Guard restoring its known devices
// after a restart tells it of each login still within that window, so that
// the restart does not leave the customer's address open to a ban by one
// forged datagram.
type Truster interface {
	Trust(addr netip.Addr, account string, at time.Time)
}

// Replayer is implemented by detectors whose counts live in their process,
// as Standard's do. A Guard with a Store keeps the failures with proof it
// observes and the moments it forgets, and gives them back in order after
// a restart, so that the restart gives no guesser its count back. A
// detector whose counts outlive the process (a shared one) must not be a
// Replayer: it would count them twice.
type Replayer interface {
	Forgetter
	// Replay counts ev, observed before the restart, as Observe did, and
	// makes no finding: those were acted on then.
	Replay(ev *Event)
}

// Detector turns events into findings.
//
// Observe examines one event and appends any findings to dst, returning the
// extended slice. It must be safe for concurrent use, must not retain ev or
// dst, and should not allocate unless it returns a finding: it runs once per
// SIP transaction. The event has been validated (see Event.Validate) and its
// zero Time replaced. A detector that keeps per-source state must bound it.
type Detector interface {
	Observe(ev *Event, dst []Finding) []Finding
}

// Func adapts a function to the Detector interface.
type Func func(ev *Event, dst []Finding) []Finding

// Observe calls f(ev, dst).
func (f Func) Observe(ev *Event, dst []Finding) []Finding { return f(ev, dst) }
