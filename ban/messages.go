package ban

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/sipban/sipban/detect"
	"github.com/sipban/sipban/internal/catalog"
)

// Messages are an explanation language: fmt formats by message key, with
// explicit argument indexes (%[1]v) so that a translation may reorder
// them. English shows every key and its arguments.
type Messages map[string]string

// Languages lists the languages explanations come in without
// Options.Messages.
func Languages() []string { return []string{"en", "de"} }

// English returns a copy of the English messages, the base of a new
// language.
func English() Messages { return maps.Clone(english) }

func catalogues(extra map[string]Messages) map[string]Messages {
	return catalog.Merge(map[string]Messages{"en": english, "de": german}, extra)
}

// texts renders one language.
type texts struct{ m Messages }

func (g *Guard) texts(lang string) texts {
	if m, ok := g.msgs[lang]; ok {
		return texts{m}
	}
	return texts{english}
}

// Language returns the first of langs (language tags such as "de-CH", in
// order of preference) that explanations come in, or "en".
func (g *Guard) Language(langs ...string) string {
	for _, l := range langs {
		l = strings.ToLower(strings.TrimSpace(l))
		if _, ok := g.msgs[l]; ok {
			return l
		}
		if base, _, ok := strings.Cut(l, "-"); ok {
			if _, ok := g.msgs[base]; ok {
				return base
			}
		}
	}
	return "en"
}

func (t texts) f(key string, args ...any) string {
	return fmt.Sprintf(catalog.Format(t.m, english, key), args...)
}

func (t texts) device(s detect.Subject, ev *detect.Evidence) string {
	var b strings.Builder
	b.WriteString(t.f("device.address", s.Prefix))
	var ports []string
	for _, p := range ev.Ports {
		if p != 0 { // 0: not known
			ports = append(ports, strconv.Itoa(int(p)))
		}
	}
	if len(ports) > 0 {
		b.WriteString(t.f("device.ports", strings.Join(ports, ", ")))
	}
	if len(ev.UserAgents) > 0 {
		b.WriteString(t.f("device.agents", strings.Join(ev.UserAgents, `", "`)))
	}
	return b.String()
}

func (t texts) changed(info AccountInfo) string {
	if info.PasswordChanged.IsZero() {
		return ""
	}
	return t.f("outdated.changed", info.PasswordChanged.Format(time.DateOnly))
}

func (t texts) deleted(info AccountInfo) string {
	if info.DeletedAt.IsZero() {
		return ""
	}
	return t.f("outdated.deleted", info.DeletedAt.Format(time.DateOnly))
}

func (t texts) every(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return t.f("every", t.dur(d.Round(time.Second)))
}

// dur writes d with unit symbols, which read alike in English and German
// (100 ms, 5.2 s, 3 min 20 s, 2 h 5 min, 3 d 4 h), in t's decimal mark.
func (t texts) dur(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d < 10*time.Second && d%time.Second != 0:
		s := strconv.FormatFloat(d.Seconds(), 'f', 1, 64)
		return strings.Replace(s, ".", t.f("decimal"), 1) + " s"
	case d < time.Minute:
		return fmt.Sprintf("%d s", d/time.Second)
	}
	two := func(big, small time.Duration, bu, su string) string {
		n, rest := d/big, d%big/small
		if rest == 0 {
			return fmt.Sprintf("%d %s", n, bu)
		}
		return fmt.Sprintf("%d %s %d %s", n, bu, rest, su)
	}
	switch d = d.Round(time.Second); {
	case d < time.Hour:
		return two(time.Minute, time.Second, "min", "s")
	case d < 24*time.Hour:
		return two(time.Hour, time.Minute, "h", "min")
	}
	return two(24*time.Hour, time.Hour, "d", "h")
}

// guard explains a guard: who is still served, who is refused.
func (t texts) guard(r *Record, d Diagnosis, span string) Diagnosis {
	ev := &r.Evidence
	if r.Subject.Anywhere() {
		acct := r.Subject.Account
		d.Device = t.f("guard.account.device", joinAddrs(ev.Addresses))
		how := t.f("guard.account.spread")
		if len(ev.Addresses) < 2 {
			how = t.f("guard.account.slow")
		}
		d.Summary = t.f("guard.account.summary", ev.Count, acct, span, joinAddrs(ev.Addresses), how, r.Blocked)
		d.Advice = []string{t.f("guard.account.advice.new", acct), t.f("guard.account.advice.leave", acct)}
		return d
	}
	if !r.Proven {
		d.Summary = t.f("guard.unproven.summary", t.what(r), r.Subject.Prefix, r.Blocked)
		d.Advice = []string{t.f("guard.unproven.advice.wait"), t.f("guard.address.advice.new"), t.f("guard.unproven.advice.find")}
		return d
	}
	d.Summary = t.f("guard.address.summary", ev.Count, max(ev.DistinctAccounts, 1), span, r.Subject.Prefix, r.Blocked)
	d.Advice = []string{t.f("guard.address.advice.new"), t.f("guard.address.advice.find")}
	return d
}

// what says in t's language what r's evidence shows, as a noun phrase; a
// custom detector's cause keeps its own Detail.
func (t texts) what(r *Record) string {
	ev := &r.Evidence
	switch r.Cause {
	case detect.Scanner:
		if ua, ok := scannerAgent(ev); ok {
			return t.f("what.scanner", ua)
		}
		return t.f("what.sweep", ev.DistinctAccounts)
	case detect.BadCredentials:
		return t.f("what.credentials", ev.Count, max(ev.DistinctAccounts, 1))
	case detect.Enumeration:
		return t.f("what.enumeration", ev.DistinctAccounts)
	case detect.StaleAccount:
		if len(ev.Accounts) > 0 {
			return t.f("what.stale", ev.Count, ev.Accounts[0])
		}
	case detect.CallRate:
		return t.f("what.calls", ev.Count, ev.Unanswered*100)
	case detect.Signalling:
		return t.sent(ev)
	}
	return ev.Detail
}

// scannerAgent returns the scanner's User-Agent that made a Scanner
// record; without one, the record is an OPTIONS sweep, whatever its agent.
func scannerAgent(ev *detect.Evidence) (string, bool) {
	if len(ev.UserAgents) == 0 {
		return "", false
	}
	_, ok := detect.ScannerAgent(ev.UserAgents[0])
	return ev.UserAgents[0], ok
}

// sent describes a signalling finding's requests: refused as sent, or
// unreadable (status 0), which were never answered.
func (t texts) sent(ev *detect.Evidence) string {
	unread := 0
	for _, st := range ev.Statuses {
		if st == 0 {
			unread++
		}
	}
	switch {
	case unread == 0:
		return t.f("sent.refused", ev.Count, t.statuses(ev.Statuses))
	case unread == len(ev.Statuses):
		return t.f("sent.unreadable", ev.Count)
	}
	return t.f("sent.mixed", ev.Count, t.statuses(ev.Statuses))
}

// statuses lists the statuses of a signalling finding, 0 (a request that
// could not be read, so was never answered) by name.
func (t texts) statuses(sts []int) string {
	out := make([]string, len(sts))
	for i, st := range sts {
		if st == 0 {
			out[i] = t.f("status.unreadable")
		} else {
			out[i] = strconv.Itoa(st)
		}
	}
	return strings.Join(out, ", ")
}

func (t texts) signallingAdvice(statuses []int) []string {
	var out []string
	seen := map[string]bool{}
	add := func(key string) {
		if !seen[key] {
			seen[key] = true
			out = append(out, t.f(key))
		}
	}
	for _, st := range statuses {
		switch st {
		case 488, 415:
			add("pbx.advice.codec")
		case 484:
			add("pbx.advice.incomplete")
		case 404:
			add("pbx.advice.number")
		case 403:
			add("pbx.advice.identity")
		case 400, 0:
			add("pbx.advice.malformed")
		case 420, 416:
			add("pbx.advice.extensions")
		}
	}
	if len(out) == 0 {
		add("pbx.advice.guide")
	}
	return append(out, t.f("pbx.advice.lift"))
}

var english = Messages{
	"unknown.summary":              "All traffic from %[1]v is dropped by a ban %[2]s; why it was made was not kept.",
	"unknown.device":               "unknown",
	"unknown.advice.check":         "If the address is yours, check the devices there (passwords, accounts, dial plans) before lifting the ban.",
	"unknown.advice.lift":          "Lift it if you know it to be harmless; it ends by itself at the time shown.",
	"scope.address":                "all traffic from %[1]v is dropped",
	"scope.account":                "only account %[1]q from %[2]v is refused",
	"scope.others":                 "; the other devices there keep working",
	"device.address":               "address %[1]v",
	"device.ports":                 ", source port(s) %[1]v",
	"device.agents":                `, User-Agent "%[1]s"`,
	"every":                        " about every %[1]v",
	"decimal":                      ".",
	"advice.lift":                  "Lift the block once the device is fixed; it will be blocked again otherwise.",
	"outdated.password.summary":    "A device that logged in as %[1]q before now has its password rejected (%[2]d times within %[3]v): it still uses an old password; %[4]s.",
	"outdated.changed":             " The password was changed on %[1]s.",
	"outdated.password.advice":     "Enter the current password of account %[1]q on the device (%[2]s), and on every other device that uses the account.",
	"typo.password.summary":        "A device registering as %[1]q had its password rejected %[2]d times within %[3]v and has never logged in with it: the password is mistyped; %[4]s.",
	"typo.password.advice":         "Re-enter the password of account %[1]q on the device (%[2]s), carefully.",
	"typo.account.summary":         "A device uses account %[1]q, which does not exist; did you mean %[2]q? %[3]d attempts; %[4]s.",
	"typo.account.advice":          "Correct the account name on the device (%[3]s) from %[1]q to %[2]q.",
	"outdated.account.summary":     "A device that logged in as %[1]q before keeps using it, %[2]d times%[3]s, but the account no longer exists; %[4]s.",
	"outdated.deleted":             " The account was deleted on %[1]s.",
	"outdated.account.advice":      "Remove account %[1]q from the device (%[2]s), or give the device the account that replaced it.",
	"test.summary":                 "A device keeps using account %[1]q, %[2]s, %[3]d times%[4]s, and has never logged in with it: a test device left configured; %[5]s.",
	"test.account.test":            "a test account",
	"test.account.deleted":         "which was deleted",
	"test.account.unknown":         "which does not exist",
	"test.advice":                  "Reset the device (%[2]s) or remove account %[1]q from it.",
	"test.advice.restore":          "If the account should exist, restore it before lifting the block.",
	"attack.guessing.summary":      "%[1]d logins refused for %[2]d account(s) within %[3]v from an address with no recent successful login: password guessing; %[4]s.",
	"attack.guessing.advice.yours": "If these are your devices, correct the passwords on each device listed before lifting the ban.",
	"attack.guessing.advice.leave": "Otherwise leave the ban in place, and check the accounts tried have strong passwords.",
	"attack.enumeration.summary":   "About %[1]d distinct account names probed within %[2]v: an account scan; %[3]s.",
	"attack.enumeration.advice":    "Leave the ban in place unless the source is yours; a provisioning tool that tries many accounts should be allow-listed instead.",
	"script.summary":               "%[1]d call attempts within %[2]v, %.0[3]f%% unanswered: a dialer pattern; %[4]s.",
	"script.advice.slow":           "Slow the dialer or auto-dialer on this device to within the call-rate limit, and stop it retrying unanswered numbers at once.",
	"script.advice.compromised":    "If the device was not meant to place these calls, change its account passwords: it may be compromised.",
	"pbx.summary":                  "Registrations from this address work, but within %[2]v it sent %[1]s: a telephone system whose call signalling is wrong; %[3]s.",
	"attack.signalling.summary":    "Within %[2]v this address, where nothing logs in, sent %[1]s; %[3]s.",
	"sent.refused":                 "%[1]d requests that were refused as sent (statuses %[2]s)",
	"sent.unreadable":              "%[1]d requests that could not be read and were never answered",
	"sent.mixed":                   "%[1]d requests that were refused as sent or could not be read (statuses %[2]s)",
	"pbx.advice.codec":             "488/415: the calls offer no codec or media the server accepts; align the device's codec list (e.g. enable G.711) and SDP settings.",
	"pbx.advice.incomplete":        "484: numbers are dialled incomplete; fix the device's dial plan or digit map.",
	"pbx.advice.number":            "404: the numbers called do not exist as dialled; check the dial prefix and number format (E.164).",
	"pbx.advice.identity":          "403: calls are sent to a domain or with an identity the server does not accept; check the device's domain, outbound proxy and caller ID.",
	"pbx.advice.malformed":         "400/unreadable: the device sends malformed SIP; update its firmware or turn off the router's SIP ALG.",
	"pbx.advice.extensions":        "420/416: the device requires extensions or URI schemes the server does not support; turn them off.",
	"pbx.advice.guide":             "Check the device's SIP settings against the provider's configuration guide.",
	"pbx.advice.lift":              "Lift the ban once calls from the device succeed in a test.",
	"attack.scanner.summary":       "The User-Agent %[1]q is a SIP scanner's; %[2]s.",
	"attack.scanner.advice":        "Leave the ban in place: no phone or PBX identifies itself this way.",
	"status.unreadable":            "unreadable",
	"what.scanner":                 "requests whose User-Agent, %[1]q, is a SIP scanner's",
	"what.sweep":                   "an OPTIONS sweep over about %[1]d distinct users",
	"attack.sweep.summary":         "An OPTIONS sweep over about %[1]d distinct users, as scanners make to find accounts; %[2]s.",
	"attack.sweep.advice":          "Leave the ban in place: no phone or PBX asks after so many users.",
	"what.credentials":             "%[1]d logins refused for about %[2]d account(s)",
	"what.enumeration":             "about %[1]d distinct account names probed",
	"what.stale":                   "%[1]d requests for the missing account %[2]q",
	"what.calls":                   "%[1]d call attempts, %.0[2]f%% unanswered",
	"custom.summary":               "%[1]v: %[2]s; %[3]s.",
	"custom.advice":                "See the evidence; fix the device before lifting the ban.",
	"guard.account.device":         "addresses %[1]s",
	"guard.account.spread":         "guessing spread over many sources",
	"guard.account.slow":           "more guesses than a day allows",
	"guard.account.summary":        "%[1]d rejected credentials for account %[2]q within %[3]v from %[4]s: %[5]s; only devices that logged in as %[2]q before keep being served, every other request for it is refused without a check (%[6]d so far).",
	"guard.account.advice.new":     "If a new device of yours must use account %[1]q, lift the guard once its password is right; it enrols at its first login.",
	"guard.account.advice.leave":   "Otherwise leave the guard in place, and make sure account %[1]q has a strong password.",
	"guard.address.summary":        "%[1]d logins refused for about %[2]d account(s) within %[3]v from %[4]v, where other accounts log in: guessing behind a shared address; the devices that logged in there keep working, every other request from it is refused without a check (%[5]d so far).",
	"guard.address.advice.new":     "If you are adding a device at this address, lift the guard once its account and password are right; it enrols at its first login.",
	"guard.address.advice.find":    "Otherwise something at this address is guessing passwords: find it (the ports and User-Agents in the evidence) before lifting the guard.",
	"guard.unproven.summary":       "Evidence from %[2]v, where devices of yours logged in: %[1]s. Without proof it came from there, since a UDP source can be forged, the address is guarded, not banned; the devices that logged in there keep working, every other request from it is refused without a check (%[3]d so far).",
	"guard.unproven.advice.wait":   "If your devices there work, there is nothing to fix: the guard ends by itself.",
	"guard.unproven.advice.find":   "If one of them does not, or something of yours there misbehaves, find it (the ports and User-Agents in the evidence) and fix it before lifting the guard.",
}

var german = Messages{
	"unknown.summary":              "Aller Verkehr von %[1]v wird durch eine Sperre %[2]s verworfen; warum sie verhängt wurde, ist nicht mehr bekannt.",
	"unknown.device":               "unbekannt",
	"unknown.advice.check":         "Wenn die Adresse Ihre ist, prüfen Sie die Geräte dort (Passwörter, Konten, Wählpläne), bevor Sie die Sperre aufheben.",
	"unknown.advice.lift":          "Heben Sie sie auf, wenn Sie wissen, dass sie harmlos ist; sie endet von selbst zur angegebenen Zeit.",
	"scope.address":                "aller Verkehr von %[1]v wird verworfen",
	"scope.account":                "nur das Konto %[1]q von %[2]v wird abgewiesen",
	"scope.others":                 "; die anderen Geräte dort funktionieren weiter",
	"device.address":               "Adresse %[1]v",
	"device.ports":                 ", Quellport(s) %[1]v",
	"device.agents":                `, User-Agent "%[1]s"`,
	"every":                        " etwa alle %[1]v",
	"decimal":                      ",",
	"advice.lift":                  "Heben Sie die Sperre auf, sobald das Gerät korrigiert ist; sonst wird es erneut gesperrt.",
	"outdated.password.summary":    "Ein Gerät, das sich zuvor als %[1]q angemeldet hat, wird jetzt mit seinem Passwort abgewiesen (%[2]d-mal innerhalb von %[3]v): es verwendet noch ein altes Passwort; %[4]s.",
	"outdated.changed":             " Das Passwort wurde am %[1]s geändert.",
	"outdated.password.advice":     "Tragen Sie das aktuelle Passwort des Kontos %[1]q auf dem Gerät (%[2]s) ein, und auf jedem anderen Gerät, das das Konto nutzt.",
	"typo.password.summary":        "Ein Gerät, das sich als %[1]q registriert, wurde %[2]d-mal innerhalb von %[3]v mit seinem Passwort abgewiesen und hat sich damit nie angemeldet: das Passwort ist falsch eingegeben; %[4]s.",
	"typo.password.advice":         "Geben Sie das Passwort des Kontos %[1]q auf dem Gerät (%[2]s) sorgfältig neu ein.",
	"typo.account.summary":         "Ein Gerät nutzt das Konto %[1]q, das es nicht gibt; meinten Sie %[2]q? %[3]d Versuche; %[4]s.",
	"typo.account.advice":          "Korrigieren Sie den Kontonamen auf dem Gerät (%[3]s) von %[1]q zu %[2]q.",
	"outdated.account.summary":     "Ein Gerät, das sich zuvor als %[1]q angemeldet hat, nutzt das Konto weiter, %[2]d-mal%[3]s, aber es existiert nicht mehr; %[4]s.",
	"outdated.deleted":             " Das Konto wurde am %[1]s gelöscht.",
	"outdated.account.advice":      "Entfernen Sie das Konto %[1]q vom Gerät (%[2]s), oder geben Sie dem Gerät das Konto, das es ersetzt.",
	"test.summary":                 "Ein Gerät nutzt weiter das Konto %[1]q, %[2]s, %[3]d-mal%[4]s, und hat sich damit nie angemeldet: ein nicht zurückgesetztes Testgerät; %[5]s.",
	"test.account.test":            "ein Testkonto",
	"test.account.deleted":         "das gelöscht wurde",
	"test.account.unknown":         "das es nicht gibt",
	"test.advice":                  "Setzen Sie das Gerät (%[2]s) zurück oder entfernen Sie das Konto %[1]q davon.",
	"test.advice.restore":          "Wenn das Konto bestehen soll, stellen Sie es wieder her, bevor Sie die Sperre aufheben.",
	"attack.guessing.summary":      "%[1]d abgewiesene Anmeldeversuche für %[2]d Konto/Konten innerhalb von %[3]v von einer Adresse ohne kürzliche erfolgreiche Anmeldung: Passwort-Raten; %[4]s.",
	"attack.guessing.advice.yours": "Wenn das Ihre Geräte sind, korrigieren Sie die Passwörter auf jedem aufgeführten Gerät, bevor Sie die Sperre aufheben.",
	"attack.guessing.advice.leave": "Andernfalls lassen Sie die Sperre bestehen und prüfen Sie, ob die versuchten Konten starke Passwörter haben.",
	"attack.enumeration.summary":   "Etwa %[1]d verschiedene Kontonamen innerhalb von %[2]v durchprobiert: eine Kontosuche; %[3]s.",
	"attack.enumeration.advice":    "Lassen Sie die Sperre bestehen, sofern die Quelle nicht Ihre ist; ein Provisionierungswerkzeug, das viele Konten versucht, gehört auf die Freigabeliste.",
	"script.summary":               "%[1]d Anrufversuche innerhalb von %[2]v, %.0[3]f%% unbeantwortet: das Muster eines Wählprogramms; %[4]s.",
	"script.advice.slow":           "Drosseln Sie das Wählprogramm auf diesem Gerät auf das erlaubte Anruftempo, und lassen Sie es unbeantwortete Nummern nicht sofort erneut wählen.",
	"script.advice.compromised":    "Wenn das Gerät diese Anrufe nicht tätigen sollte, ändern Sie die Passwörter seiner Konten: es könnte kompromittiert sein.",
	"pbx.summary":                  "Registrierungen von dieser Adresse funktionieren, aber innerhalb von %[2]v kamen von ihr %[1]s: eine Telefonanlage mit fehlerhafter Anrufsignalisierung; %[3]s.",
	"attack.signalling.summary":    "Innerhalb von %[2]v kamen von dieser Adresse, an der sich nichts anmeldet, %[1]s; %[3]s.",
	"sent.refused":                 "%[1]d Anfragen, die so wie gesendet abgewiesen wurden (Status %[2]s)",
	"sent.unreadable":              "%[1]d Anfragen, die nicht lesbar waren und nie beantwortet wurden",
	"sent.mixed":                   "%[1]d Anfragen, die so wie gesendet abgewiesen wurden oder nicht lesbar waren (Status %[2]s)",
	"pbx.advice.codec":             "488/415: die Anrufe bieten keinen Codec und keine Medien an, die der Server annimmt; gleichen Sie die Codec-Liste (z. B. G.711 aktivieren) und die SDP-Einstellungen an.",
	"pbx.advice.incomplete":        "484: Nummern werden unvollständig gewählt; korrigieren Sie den Wählplan des Geräts.",
	"pbx.advice.number":            "404: die gewählten Nummern existieren so nicht; prüfen Sie Vorwahl und Nummernformat (E.164).",
	"pbx.advice.identity":          "403: Anrufe gehen an eine Domain oder mit einer Identität, die der Server nicht annimmt; prüfen Sie Domain, Outbound-Proxy und Rufnummernanzeige des Geräts.",
	"pbx.advice.malformed":         "400/unlesbar: das Gerät sendet fehlerhaftes SIP; aktualisieren Sie seine Firmware oder schalten Sie das SIP-ALG des Routers ab.",
	"pbx.advice.extensions":        "420/416: das Gerät verlangt Erweiterungen oder URI-Schemata, die der Server nicht unterstützt; schalten Sie sie ab.",
	"pbx.advice.guide":             "Prüfen Sie die SIP-Einstellungen des Geräts anhand der Konfigurationsanleitung des Anbieters.",
	"pbx.advice.lift":              "Heben Sie die Sperre auf, sobald Anrufe vom Gerät in einem Test gelingen.",
	"attack.scanner.summary":       "Der User-Agent %[1]q ist der eines SIP-Scanners; %[2]s.",
	"attack.scanner.advice":        "Lassen Sie die Sperre bestehen: kein Telefon und keine Telefonanlage gibt sich so aus.",
	"status.unreadable":            "unlesbar",
	"what.scanner":                 "Anfragen mit dem User-Agent %[1]q, dem eines SIP-Scanners",
	"what.sweep":                   "eine OPTIONS-Abfrage nach etwa %[1]d verschiedenen Benutzern",
	"attack.sweep.summary":         "Eine OPTIONS-Abfrage nach etwa %[1]d verschiedenen Benutzern, wie Scanner sie zur Suche nach Konten stellen; %[2]s.",
	"attack.sweep.advice":          "Lassen Sie die Sperre bestehen: kein Telefon und keine Telefonanlage fragt nach so vielen Benutzern.",
	"what.credentials":             "%[1]d abgewiesene Anmeldeversuche für etwa %[2]d Konto/Konten",
	"what.enumeration":             "etwa %[1]d verschiedene durchprobierte Kontonamen",
	"what.stale":                   "%[1]d Anfragen für das fehlende Konto %[2]q",
	"what.calls":                   "%[1]d Anrufversuche, %.0[2]f%% unbeantwortet",
	"custom.summary":               "%[1]v: %[2]s; %[3]s.",
	"custom.advice":                "Sehen Sie sich die Belege an; korrigieren Sie das Gerät, bevor Sie die Sperre aufheben.",
	"guard.account.device":         "Adressen %[1]s",
	"guard.account.spread":         "über viele Quellen verteiltes Raten",
	"guard.account.slow":           "mehr Versuche, als ein Tag erlaubt",
	"guard.account.summary":        "%[1]d abgewiesene Anmeldedaten für das Konto %[2]q innerhalb von %[3]v von %[4]s: %[5]s; nur Geräte, die sich zuvor als %[2]q angemeldet haben, werden weiter bedient, jede andere Anfrage dafür wird ohne Prüfung abgewiesen (bisher %[6]d).",
	"guard.account.advice.new":     "Wenn ein neues Gerät von Ihnen das Konto %[1]q nutzen muss, heben Sie den Schutz auf, sobald sein Passwort stimmt; es wird bei seiner ersten Anmeldung aufgenommen.",
	"guard.account.advice.leave":   "Andernfalls lassen Sie den Schutz bestehen und sorgen Sie für ein starkes Passwort des Kontos %[1]q.",
	"guard.address.summary":        "%[1]d abgewiesene Anmeldeversuche für etwa %[2]d Konto/Konten innerhalb von %[3]v von %[4]v, wo sich andere Konten anmelden: Raten hinter einer gemeinsamen Adresse; die Geräte, die sich dort angemeldet haben, funktionieren weiter, jede andere Anfrage von dort wird ohne Prüfung abgewiesen (bisher %[5]d).",
	"guard.address.advice.new":     "Wenn Sie an dieser Adresse ein Gerät hinzufügen, heben Sie den Schutz auf, sobald Konto und Passwort stimmen; es wird bei seiner ersten Anmeldung aufgenommen.",
	"guard.address.advice.find":    "Andernfalls rät etwas an dieser Adresse Passwörter: finden Sie es (Ports und User-Agents in den Belegen), bevor Sie den Schutz aufheben.",
	"guard.unproven.summary":       "Belege von %[2]v, wo sich Geräte von Ihnen angemeldet haben: %[1]s. Ohne Beweis, dass es von dort kam, denn eine UDP-Quelle lässt sich fälschen, wird die Adresse geschützt, nicht gesperrt; die Geräte, die sich dort angemeldet haben, funktionieren weiter, jede andere Anfrage von dort wird ohne Prüfung abgewiesen (bisher %[3]d).",
	"guard.unproven.advice.wait":   "Wenn Ihre Geräte dort funktionieren, ist nichts zu beheben: der Schutz endet von selbst.",
	"guard.unproven.advice.find":   "Wenn eines nicht funktioniert oder etwas von Ihnen dort sich falsch verhält, finden Sie es (Ports und User-Agents in den Belegen) und beheben Sie es, bevor Sie den Schutz aufheben.",
}
