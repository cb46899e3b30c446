package banhttp

import (
	"cmp"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/internal/catalog"
)

// Texts are the page's strings in one language, by key; fmt formats them.
// English shows every key.
type Texts map[string]string

// English returns a copy of the page's English strings, the base of a new
// language.
func English() Texts { return maps.Clone(englishTexts) }

// maxTags bounds the Accept-Language tags considered, so that a long
// header costs no more than a short one.
const maxTags = 16

// AcceptLanguage returns the language tags of an Accept-Language header
// value, most preferred first: by q-value, ties in the order written;
// tags with q=0, "*" and malformed entries are left out.
func AcceptLanguage(header string) []string {
	type tag struct {
		name string
		q    float64
	}
	var tags []tag
	for part := range strings.SplitSeq(header, ",") {
		if len(tags) == maxTags {
			break
		}
		name, params, _ := strings.Cut(part, ";")
		name = strings.TrimSpace(name)
		if name == "" || name == "*" || !isTag(name) {
			continue
		}
		q := 1.0
		if params != "" {
			k, v, ok := strings.Cut(strings.TrimSpace(params), "=")
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if !ok || strings.TrimSpace(k) != "q" || err != nil || f < 0 || f > 1 {
				continue
			}
			q = f
		}
		if q > 0 {
			tags = append(tags, tag{name, q})
		}
	}
	slices.SortStableFunc(tags, func(a, b tag) int { return cmp.Compare(b.q, a.q) })
	out := make([]string, len(tags))
	for i, t := range tags {
		out[i] = t.name
	}
	return out
}

// isTag reports whether s looks like a language tag: letters, digits and
// hyphens, at most 35 bytes (BCP 47's longest registered form).
func isTag(s string) bool {
	if len(s) > 35 {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// language picks the request's language: ?lang= first, then
// Accept-Language, as far as g explains in it.
func language(g *ban.Guard, r *http.Request) string {
	langs := AcceptLanguage(r.Header.Get("Accept-Language"))
	if l := r.URL.Query().Get("lang"); l != "" {
		langs = append([]string{l}, langs...)
	}
	return g.Language(langs...)
}

// texts renders the page's strings in one language.
type texts struct{ m Texts }

// T formats the string key with args; a key the language lacks is
// English's.
func (t texts) T(key string, args ...any) string {
	format := catalog.Format(t.m, englishTexts, key)
	if len(args) == 0 {
		return format
	}
	return fmt.Sprintf(format, args...)
}

func pageTexts(extra map[string]Texts) map[string]Texts {
	return catalog.Merge(map[string]Texts{"en": englishTexts, "de": germanTexts}, extra)
}

var englishTexts = Texts{
	"title.list":                 "Your blocks",
	"title.list.all":             "All blocks",
	"list.empty.all":             "Nothing is blocked.",
	"record.back.all":            "All blocks",
	"title.record":               "Block of %[1]s",
	"list.empty":                 "Nothing of yours is blocked.",
	"list.next":                  "More",
	"list.lifted":                "%[1]s is unblocked. If the cause comes back within a day, the next block comes sooner and lasts longer.",
	"col.subject":                "Blocked",
	"col.scope":                  "What is refused",
	"col.cause":                  "Cause",
	"col.until":                  "Ends",
	"scope.address":              "all traffic from the address",
	"scope.account":              "one account at the address",
	"scope.guard":                "new devices (known ones keep working)",
	"record.cause":               "Cause",
	"record.confidence":          "certainty %.0[1]f%%",
	"record.didyoumean":          "Did you mean the account %[1]q?",
	"record.since":               "Blocked since",
	"record.until":               "Ends",
	"record.summary":             "What happened",
	"record.devices":             "Devices at this address in the last 24 hours",
	"record.nodevices":           "No device of this address is known.",
	"record.hidden":              "Devices at this address that used none of your accounts: %[1]d, not shown.",
	"others.summary":             "A device at this address that used none of your accounts caused this block: someone else's, behind the same address.",
	"others.advice.yours":        "None of your devices listed here is to blame.",
	"others.advice.lift":         "You may lift the block for your devices; if it comes back, ask your provider, who sees the whole record.",
	"others.advice.provider":     "Only your provider can lift it: ask them, they see the whole record.",
	"record.advice":              "What to fix",
	"record.back":                "All your blocks",
	"dev.port":                   "Port",
	"dev.agent":                  "Device (User-Agent)",
	"dev.contact":                "Contact",
	"dev.accounts":               "Accounts",
	"dev.failures":               "Failed",
	"dev.successes":              "Worked",
	"dev.last":                   "Last seen",
	"dev.suspect":                "Suspect: fix this device",
	"dev.ok":                     "OK",
	"dev.new":                    "New: refused by the guard until it is lifted",
	"dev.refused":                "(and %[1]d refused unchecked by the guard)",
	"lift.heading":               "I fixed it — unblock",
	"lift.which":                 "Which cause did you fix?",
	"lift.choose":                "Choose…",
	"lift.button":                "Unblock",
	"lift.note":                  "Fix the cause first: if it comes back within a day, the next block comes sooner and lasts longer. Self-service unblocks are limited; past the limit only your provider can unblock.",
	"lift.left":                  "Self-service unblocks left: %[1]d.",
	"lift.operator":              "As an operator you may lift any block.",
	"refused.attack":             "This block looks like an attack, not a device of yours; only your provider's operator can lift it.",
	"refused.limit":              "You have used up your self-service unblocks for now; ask your provider's operator to lift this block.",
	"refused.fixed":              "Choose which cause you fixed.",
	"refused.token":              "The form expired; reload the page and try again.",
	"refused.login":              "Sign in to see your blocks.",
	"refused.notfound":           "There is no such block; it may have ended.",
	"refused.failed":             "The block is lifted here, but a firewall did not follow; if the device is still refused, contact your provider.",
	"cause.outdated-credentials": "Outdated credentials: the password changed or the account was deleted",
	"cause.credential-typo":      "Mistyped password or account name",
	"cause.test-device":          "A test device still configured",
	"cause.pbx-misconfiguration": "A telephone system (PBX) whose call signalling is wrong",
	"cause.call-script":          "A call script dialling too fast",
	"cause.new-device":           "Nothing: I am adding a new device here",
	"cause.attack":               "An attack",
	"cause.unknown":              "Unknown",
	"lang.en":                    "English",
	"lang.de":                    "Deutsch",
	"record.lifts":               "Unblocked before, and blocked again since",
	"lift.by.you":                "by you",
	"lift.by.operator":           "by an operator",
	"lift.by.other":              "by another login",
	"lift.fixed":                 "said fixed: %[1]s",
}

var germanTexts = Texts{
	"title.list":                 "Ihre Sperren",
	"title.list.all":             "Alle Sperren",
	"list.empty.all":             "Nichts ist gesperrt.",
	"record.back.all":            "Alle Sperren",
	"title.record":               "Sperre von %[1]s",
	"list.empty":                 "Nichts von Ihnen ist gesperrt.",
	"list.next":                  "Weitere",
	"list.lifted":                "%[1]s ist entsperrt. Kommt die Ursache binnen eines Tages wieder, folgt die nächste Sperre früher und dauert länger.",
	"col.subject":                "Gesperrt",
	"col.scope":                  "Was abgewiesen wird",
	"col.cause":                  "Ursache",
	"col.until":                  "Endet",
	"scope.address":              "aller Verkehr von der Adresse",
	"scope.account":              "ein Konto an der Adresse",
	"scope.guard":                "neue Geräte (bekannte funktionieren weiter)",
	"record.cause":               "Ursache",
	"record.confidence":          "Gewissheit %.0[1]f %%",
	"record.didyoumean":          "Meinten Sie das Konto %[1]q?",
	"record.since":               "Gesperrt seit",
	"record.until":               "Endet",
	"record.summary":             "Was geschah",
	"record.devices":             "Geräte an dieser Adresse in den letzten 24 Stunden",
	"record.nodevices":           "Kein Gerät dieser Adresse ist bekannt.",
	"record.hidden":              "Geräte an dieser Adresse, die keines Ihrer Konten benutzt haben: %[1]d, nicht gezeigt.",
	"others.summary":             "Ein Gerät an dieser Adresse, das keines Ihrer Konten benutzt hat, hat diese Sperre ausgelöst: das eines anderen hinter derselben Adresse.",
	"others.advice.yours":        "Keines Ihrer hier gezeigten Geräte ist schuld.",
	"others.advice.lift":         "Sie können die Sperre für Ihre Geräte aufheben; kommt sie wieder, fragen Sie Ihren Anbieter, der den ganzen Eintrag sieht.",
	"others.advice.provider":     "Nur Ihr Anbieter kann sie aufheben: fragen Sie ihn, er sieht den ganzen Eintrag.",
	"record.advice":              "Was zu korrigieren ist",
	"record.back":                "Alle Ihre Sperren",
	"dev.port":                   "Port",
	"dev.agent":                  "Gerät (User-Agent)",
	"dev.contact":                "Contact",
	"dev.accounts":               "Konten",
	"dev.failures":               "Fehlgeschlagen",
	"dev.successes":              "Erfolgreich",
	"dev.last":                   "Zuletzt gesehen",
	"dev.suspect":                "Verdächtig: dieses Gerät korrigieren",
	"dev.ok":                     "OK",
	"dev.new":                    "Neu: vom Schutz abgewiesen, bis er aufgehoben wird",
	"dev.refused":                "(und %[1]d vom Schutz ungeprüft abgewiesen)",
	"lift.heading":               "Ich habe es behoben — entsperren",
	"lift.which":                 "Welche Ursache haben Sie behoben?",
	"lift.choose":                "Bitte wählen…",
	"lift.button":                "Entsperren",
	"lift.note":                  "Beheben Sie zuerst die Ursache: kommt sie binnen eines Tages wieder, folgt die nächste Sperre früher und dauert länger. Selbst-Entsperrungen sind begrenzt; danach kann nur Ihr Anbieter entsperren.",
	"lift.left":                  "Verbleibende Selbst-Entsperrungen: %[1]d.",
	"lift.operator":              "Als Betreiber dürfen Sie jede Sperre aufheben.",
	"refused.attack":             "Diese Sperre sieht nach einem Angriff aus, nicht nach einem Ihrer Geräte; nur der Betreiber Ihres Anbieters kann sie aufheben.",
	"refused.limit":              "Sie haben Ihre Selbst-Entsperrungen vorerst aufgebraucht; bitten Sie den Betreiber Ihres Anbieters, diese Sperre aufzuheben.",
	"refused.fixed":              "Wählen Sie, welche Ursache Sie behoben haben.",
	"refused.token":              "Das Formular ist abgelaufen; laden Sie die Seite neu und versuchen Sie es erneut.",
	"refused.login":              "Melden Sie sich an, um Ihre Sperren zu sehen.",
	"refused.notfound":           "Diese Sperre gibt es nicht; vielleicht ist sie abgelaufen.",
	"refused.failed":             "Die Sperre ist hier aufgehoben, aber eine Firewall ist nicht gefolgt; wird das Gerät weiter abgewiesen, wenden Sie sich an Ihren Anbieter.",
	"cause.outdated-credentials": "Veraltete Zugangsdaten: das Passwort wurde geändert oder das Konto gelöscht",
	"cause.credential-typo":      "Falsch eingegebenes Passwort oder falscher Kontoname",
	"cause.test-device":          "Ein noch eingerichtetes Testgerät",
	"cause.pbx-misconfiguration": "Eine Telefonanlage mit fehlerhafter Anrufsignalisierung",
	"cause.call-script":          "Ein zu schnell wählendes Anrufskript",
	"cause.new-device":           "Nichts: ich füge hier ein neues Gerät hinzu",
	"cause.attack":               "Ein Angriff",
	"cause.unknown":              "Unbekannt",
	"lang.en":                    "English",
	"lang.de":                    "Deutsch",
	"record.lifts":               "Zuvor entsperrt und seither erneut gesperrt",
	"lift.by.you":                "von Ihnen",
	"lift.by.operator":           "vom Betreiber",
	"lift.by.other":              "von einer anderen Anmeldung",
	"lift.fixed":                 "als behoben angegeben: %[1]s",
}
