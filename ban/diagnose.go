package ban

import (
	"net/netip"
	"strings"
	"time"

	"github.com/sipban/sipban/detect"
)

// Diagnosis tells the customer what caused a ban, which device, and what
// to fix before lifting it. Cause, Confidence, DidYouMean and Devices are
// data; Summary, Device and Advice are rendered from them in the reader's
// language (Guard.Explain).
type Diagnosis struct {
	// Cause is why, as the customer must fix it: one of the Cause*
	// constants (CauseAttack and the five misconfigurations).
	Cause string `json:"cause"`
	// Confidence is how strongly the evidence supports Cause, 0 to 1.
	Confidence float64 `json:"confidence"`
	// DidYouMean is the existing account an unknown one is likely a typo
	// of (needs Options.Directory).
	DidYouMean string `json:"did_you_mean,omitempty"`
	// Devices lists the devices seen at the address in the last 24 hours,
	// the healthy ones too; the ones to fix are marked Suspect.
	Devices []Device `json:"devices,omitempty"`
	// Summary is one sentence: who, what, and the response chosen.
	Summary string `json:"summary"`
	// Device describes the device that caused the ban, as far as it is known.
	Device string `json:"device"`
	// Advice lists what to do before lifting the ban.
	Advice []string `json:"advice"`
	// Attack reports a pattern typical of an attack rather than of a device
	// of the customer's own.
	Attack bool `json:"attack"`
}

// The causes a Diagnosis names.
const (
	CauseOutdated   = "outdated-credentials" // a device that logged in before fails now: the password changed or the account went
	CauseTypo       = "credential-typo"      // a device that never logged in: the password or account name is mistyped
	CauseTestDevice = "test-device"          // a device still using a deleted or test account it never logged in with
	CausePBX        = "pbx-misconfiguration" // registrations work, calls are refused as sent
	CauseScript     = "call-script"          // too many call attempts, mostly unanswered
	CauseAttack     = "attack"               // a scanner, an account scan, guessing without history
	CauseUnknown    = "unknown"              // the ban's reason was not kept
)

// diagnose renders r's diagnosis in lang when it is read, not when it is
// made: a million bans keep no prose. flags are the entry's.
func (g *Guard) diagnose(r *Record, flags uint8, lang string) Diagnosis {
	c := classify(r, flags, g.dir)
	t := g.texts(lang)
	d := Diagnosis{Cause: c.cause, Confidence: c.confidence, DidYouMean: c.didYouMean, Attack: c.cause == CauseAttack}
	d.Devices = g.devicesOf(r)
	ev := &r.Evidence
	if r.Cause == detect.CauseUnknown {
		d.Summary = t.f("unknown.summary", r.Subject.Prefix, ev.Detail)
		d.Device = t.f("unknown.device")
		d.Advice = []string{t.f("unknown.advice.check"), t.f("unknown.advice.lift")}
		return d
	}
	d.Device = t.device(r.Subject, ev)
	span := t.dur(roundSpan(ev.Last.Sub(ev.First)))
	acct := c.account
	scope := t.f("scope.address", r.Subject.Prefix)
	if r.Subject.Account != "" {
		scope = t.f("scope.account", acct, r.Subject.Prefix.Addr())
		if flags&fOthersOK != 0 {
			scope += t.f("scope.others")
		}
	}
	if r.Scope == ScopeGuard {
		return t.guard(r, d, span)
	}
	lift := t.f("advice.lift")
	switch {
	case r.Cause == detect.BadCredentials && c.cause == CauseOutdated:
		d.Summary = t.f("outdated.password.summary", acct, ev.Count, span, scope) + t.changed(c.info)
		d.Advice = []string{t.f("outdated.password.advice", acct, d.Device), lift}
	case r.Cause == detect.BadCredentials && c.cause == CauseTypo:
		d.Summary = t.f("typo.password.summary", acct, ev.Count, span, scope)
		d.Advice = []string{t.f("typo.password.advice", acct, d.Device), lift}
	case r.Cause == detect.BadCredentials:
		d.Summary = t.f("attack.guessing.summary", ev.Count, max(ev.DistinctAccounts, 1), span, scope)
		d.Advice = []string{t.f("attack.guessing.advice.yours"), t.f("attack.guessing.advice.leave")}
	case r.Cause == detect.StaleAccount && c.cause == CauseTypo:
		d.Summary = t.f("typo.account.summary", acct, c.didYouMean, ev.Count, scope)
		d.Advice = []string{t.f("typo.account.advice", acct, c.didYouMean, d.Device), lift}
	case r.Cause == detect.StaleAccount && c.cause == CauseOutdated:
		d.Summary = t.f("outdated.account.summary", acct, ev.Count, t.every(ev.Interval), scope) + t.deleted(c.info)
		d.Advice = []string{t.f("outdated.account.advice", acct, d.Device), lift}
	case r.Cause == detect.StaleAccount:
		what := "test.account.unknown"
		switch {
		case c.info.Test:
			what = "test.account.test"
		case c.info.Deleted:
			what = "test.account.deleted"
		}
		d.Summary = t.f("test.summary", acct, t.f(what), ev.Count, t.every(ev.Interval), scope)
		d.Advice = []string{t.f("test.advice", acct, d.Device), t.f("test.advice.restore")}
	case r.Cause == detect.Enumeration:
		d.Summary = t.f("attack.enumeration.summary", ev.DistinctAccounts, span, scope)
		d.Advice = []string{t.f("attack.enumeration.advice")}
	case r.Cause == detect.CallRate:
		d.Summary = t.f("script.summary", ev.Count, span, ev.Unanswered*100, scope)
		d.Advice = []string{t.f("script.advice.slow"), t.f("script.advice.compromised")}
	case r.Cause == detect.Signalling:
		key := "pbx.summary"
		if c.cause == CauseAttack {
			key = "attack.signalling.summary"
		}
		d.Summary = t.f(key, t.sent(ev), span, scope)
		d.Advice = t.signallingAdvice(ev.Statuses)
	case r.Cause == detect.Scanner:
		if ua, ok := scannerAgent(ev); ok {
			d.Summary = t.f("attack.scanner.summary", ua, scope)
			d.Advice = []string{t.f("attack.scanner.advice")}
		} else {
			d.Summary = t.f("attack.sweep.summary", ev.DistinctAccounts, scope)
			d.Advice = []string{t.f("attack.sweep.advice")}
		}
	default:
		d.Summary = t.f("custom.summary", r.Cause, ev.Detail, scope)
		d.Advice = []string{t.f("custom.advice")}
	}
	return d
}

// class is what the evidence says a record's cause is.
type class struct {
	cause      string
	confidence float64
	account    string      // the account concerned, if one
	didYouMean string      // for an unknown account
	info       AccountInfo // the directory's word on account
}

// classify names the customer's cause of r. flags are the entry's: the
// finding's Device (a one-device pattern, not an attack) and whether the
// failing device logged in as the account before (fKnownDev).
func classify(r *Record, flags uint8, dir Directory) class {
	ev := &r.Evidence
	c := class{account: r.Subject.Account}
	dev := flags&fDevice != 0
	if c.account == "" && len(ev.Accounts) > 0 && (dev || len(ev.Accounts) == 1) {
		c.account = ev.Accounts[0]
	}
	if dir != nil && c.account != "" {
		c.info = dir.Account(c.account)
	}
	known := flags&fKnownDev != 0
	switch {
	case r.Cause == detect.CauseUnknown:
		c.cause = CauseUnknown
	case r.Scope == ScopeGuard && !r.Proven && !r.Subject.Anywhere():
		c.cause, c.confidence = CauseAttack, 0.5 // or forged, or a device of the customer's
	case r.Scope == ScopeGuard:
		c.cause, c.confidence = CauseAttack, 0.8
	case r.Cause == detect.Scanner:
		c.cause, c.confidence = CauseAttack, 0.95
	case r.Cause == detect.Enumeration:
		c.cause, c.confidence = CauseAttack, 0.9
	case r.Cause == detect.BadCredentials && !dev:
		c.cause, c.confidence = CauseAttack, 0.8
		if ev.DistinctAccounts > 1 {
			c.confidence = 0.9
		}
	case r.Cause == detect.BadCredentials && known:
		c.cause, c.confidence = CauseOutdated, 0.8
		if !c.info.PasswordChanged.IsZero() && !c.info.PasswordChanged.After(ev.Last) {
			c.confidence = 0.95 // it worked, the password changed, then it failed
		}
	case r.Cause == detect.BadCredentials:
		// Never logged in as an account that exists: a mistyped password.
		c.cause, c.confidence = CauseTypo, 0.6
		if c.info.Exists {
			c.confidence = 0.75
		}
	case r.Cause == detect.StaleAccount:
		c.classifyUnknown(dir, known)
	case r.Cause == detect.Signalling:
		c.cause, c.confidence = CausePBX, 0.85
		if !dev {
			// Nothing registers from there: junk, or a device not set up at all.
			c.cause, c.confidence = CauseAttack, 0.5
		}
	case r.Cause == detect.CallRate:
		c.cause, c.confidence = CauseScript, 0.8
		if !dev {
			c.confidence = 0.6 // a dialer, or toll fraud from a stolen account
		}
	default:
		c.cause, c.confidence = CauseUnknown, 0
	}
	return c
}

// classifyUnknown tells a device using an account that does not exist:
// one it used before (outdated), a typo of an existing one, or a test
// device left configured.
func (c *class) classifyUnknown(dir Directory, known bool) {
	switch {
	case known:
		c.cause, c.confidence = CauseOutdated, 0.9
		return
	case c.info.Test:
		c.cause, c.confidence = CauseTestDevice, 0.9
		return
	}
	if dir != nil && !c.info.Deleted {
		if s, ok := dir.Similar(c.account); ok {
			c.cause, c.confidence, c.didYouMean = CauseTypo, 0.85, s
			return
		}
	}
	c.cause, c.confidence = CauseTestDevice, 0.5
	if c.info.Deleted {
		c.confidence = 0.75
	}
}

func joinAddrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// roundSpan rounds d to what the detector's clock can tell (about 67 ms).
func roundSpan(d time.Duration) time.Duration {
	if d < time.Minute {
		// Up, as "within" promises: a burst reads "within 100 ms", not "within 0 ms".
		return max(d+100*time.Millisecond-1, 100*time.Millisecond).Truncate(100 * time.Millisecond)
	}
	return d.Round(time.Second)
}
