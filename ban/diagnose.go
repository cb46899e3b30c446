package ban

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/sipban/sipban/detect"
)

// Diagnosis tells the customer what caused a ban and what to fix before
// lifting it.
type Diagnosis struct {
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

// diagnose renders r's diagnosis when it is read, not when it is made: a
// million bans keep no prose. dev and othersOK are the finding's Device and
// OthersOK.
func diagnose(r *Record, dev, othersOK bool) Diagnosis {
	ev := &r.Evidence
	if r.Cause == detect.CauseUnknown {
		return Diagnosis{
			Summary: fmt.Sprintf("All traffic from %v is dropped by a ban %s; why it was made was not kept.", r.Subject.Prefix, ev.Detail),
			Device:  "unknown",
			Advice: []string{
				"If the address is yours, check the devices there (passwords, accounts, dial plans) before lifting the ban.",
				"Lift it if you know it to be harmless; it ends by itself at the time shown.",
			},
		}
	}
	d := Diagnosis{Device: device(r.Subject, ev)}
	span := roundSpan(ev.Last.Sub(ev.First))
	acct := r.Subject.Account
	if acct == "" && len(ev.Accounts) > 0 && (dev || len(ev.Accounts) == 1) {
		acct = ev.Accounts[0]
	}
	scope := "all traffic from " + r.Subject.Prefix.String() + " is dropped"
	if r.Subject.Account != "" {
		scope = fmt.Sprintf("only account %q from %s is refused", acct, r.Subject.Prefix.Addr())
		if othersOK {
			scope += "; the other devices there keep working"
		}
	}
	if r.Scope == ScopeGuard {
		return guardDiagnosis(r, d, span)
	}
	switch r.Cause {
	case detect.BadCredentials:
		if dev {
			d.Summary = fmt.Sprintf("A device registering as %q had its password rejected %d times (address first seen %v earlier); %s.", acct, ev.Count, span, scope)
			d.Advice = []string{
				fmt.Sprintf("Re-enter the password of account %q on the device (%s); if the password was changed, update every device that uses it.", acct, d.Device),
				"Lift the block once the device is fixed; it will be blocked again otherwise.",
			}
		} else {
			d.Attack = true
			d.Summary = fmt.Sprintf("%d rejected credentials for %d account(s) in %v from an address with no recent successful login: password guessing; %s.", ev.Count, max(ev.DistinctAccounts, 1), span, scope)
			d.Advice = []string{
				"If these are your devices, correct the passwords on each device listed before lifting the ban.",
				"Otherwise leave the ban in place, and check the accounts tried have strong passwords.",
			}
		}
	case detect.StaleAccount:
		every := ""
		if ev.Interval > 0 {
			every = fmt.Sprintf(" about every %v", ev.Interval.Round(time.Second))
		}
		d.Summary = fmt.Sprintf("A device keeps using account %q, which does not exist, %d times%s; %s.", acct, ev.Count, every, scope)
		d.Advice = []string{
			fmt.Sprintf("Remove account %q from the device (%s): it was deleted, or is a test account that was never reset.", acct, d.Device),
			"If the account should exist, restore it before lifting the block.",
		}
	case detect.Enumeration:
		d.Attack = true
		d.Summary = fmt.Sprintf("About %d distinct account names probed in %v: an account scan; %s.", ev.DistinctAccounts, span, scope)
		d.Advice = []string{"Leave the ban in place unless the source is yours; a provisioning tool that tries many accounts should be allow-listed instead."}
	case detect.CallRate:
		d.Summary = fmt.Sprintf("%d call attempts in %v, %.0f%% unanswered: a dialer pattern; %s.", ev.Count, span, ev.Unanswered*100, scope)
		d.Advice = []string{
			"Slow the dialer or auto-dialer on this device to within the call-rate limit, and stop it retrying unanswered numbers at once.",
			"If the device was not meant to place these calls, change its account passwords: it may be compromised.",
		}
	case detect.Signalling:
		d.Summary = fmt.Sprintf("%d requests refused as sent in %v (statuses %v); %s.", ev.Count, span, ev.Statuses, scope)
		d.Advice = signallingAdvice(ev.Statuses)
	case detect.Scanner:
		d.Attack = true
		d.Summary = fmt.Sprintf("A SIP scanner: %s; %s.", ev.Detail, scope)
		d.Advice = []string{"Leave the ban in place: no phone or PBX identifies itself this way."}
	default:
		d.Summary = fmt.Sprintf("%v: %s; %s.", r.Cause, ev.Detail, scope)
		d.Advice = []string{"See the evidence; fix the device before lifting the ban."}
	}
	return d
}

// guardDiagnosis explains a guard: who is still served, who is refused.
func guardDiagnosis(r *Record, d Diagnosis, span time.Duration) Diagnosis {
	ev := &r.Evidence
	d.Attack = true
	if r.Subject.Anywhere() {
		acct := r.Subject.Account
		d.Device = "addresses " + joinAddrs(ev.Addresses)
		how := "guessing spread over many sources"
		if len(ev.Addresses) < 2 {
			how = "more guesses than a day allows"
		}
		d.Summary = fmt.Sprintf("%d rejected credentials for account %q in %v from %s: %s; only devices that logged in as %q before keep being served, every other request for it is refused without a check (%d so far).",
			ev.Count, acct, span, joinAddrs(ev.Addresses), how, acct, r.Blocked)
		d.Advice = []string{
			fmt.Sprintf("If a new device of yours must use account %q, lift the guard once its password is right; it enrols at its first login.", acct),
			fmt.Sprintf("Otherwise leave the guard in place, and make sure account %q has a strong password.", acct),
		}
		return d
	}
	d.Summary = fmt.Sprintf("%d rejected credentials for about %d account(s) in %v from %s, where other accounts log in: guessing behind a shared address; the devices that logged in there keep working, every other request from it is refused without a check (%d so far).",
		ev.Count, max(ev.DistinctAccounts, 1), span, r.Subject.Prefix, r.Blocked)
	d.Advice = []string{
		"If you are adding a device at this address, lift the guard once its account and password are right; it enrols at its first login.",
		"Otherwise something at this address is guessing passwords: find it (the ports and User-Agents in the evidence) before lifting the guard.",
	}
	return d
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
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Second)
}

func device(s detect.Subject, ev *detect.Evidence) string {
	var b strings.Builder
	b.WriteString("address ")
	b.WriteString(s.Prefix.String())
	if len(ev.Ports) > 0 {
		fmt.Fprintf(&b, ", source port(s) %v", ev.Ports)
	}
	if len(ev.UserAgents) > 0 {
		fmt.Fprintf(&b, `, User-Agent %q`, strings.Join(ev.UserAgents, `", "`))
	}
	return b.String()
}

func signallingAdvice(statuses []int) []string {
	var out []string
	seen := map[string]bool{}
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, st := range statuses {
		switch st {
		case 488, 415:
			add("488/415: the calls offer no codec or media the server accepts; align the device's codec list (e.g. enable G.711) and SDP settings.")
		case 484:
			add("484: numbers are dialled incomplete; fix the device's dial plan or digit map.")
		case 404:
			add("404: the numbers called do not exist as dialled; check the dial prefix and number format (E.164).")
		case 403:
			add("403: calls are sent to a domain or with an identity the server does not accept; check the device's domain, outbound proxy and caller ID.")
		case 400, 0:
			add("400/unreadable: the device sends malformed SIP; update its firmware or turn off the router's SIP ALG.")
		case 420, 416:
			add("420/416: the device requires extensions or URI schemes the server does not support; turn them off.")
		}
	}
	if len(out) == 0 {
		out = append(out, "Check the device's SIP settings against the provider's configuration guide.")
	}
	return append(out, "Lift the ban once calls from the device succeed in a test.")
}
