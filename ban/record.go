package ban

import (
	"slices"
	"time"

	"github.com/sipban/sipban/detect"
)

// Record is one ban: what, why, for how long, and what was seen.
type Record struct {
	// Subject is an address or prefix, or an account at one (an account block).
	Subject detect.Subject `json:"subject"`
	// Scope is ScopeAddress, ScopeAccount or ScopeGuard.
	Scope string       `json:"scope"`
	Cause detect.Cause `json:"cause"`
	// Level counts earlier bans of the same subject; each lasts longer.
	Level int       `json:"level"`
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	// Proven reports that the deciding evidence was proven: its sender
	// receives our answers (detect.Event.Proven).
	Proven bool `json:"proven"`
	// Evidence is what the detector saw up to the ban.
	Evidence  detect.Evidence `json:"evidence"`
	Diagnosis Diagnosis       `json:"diagnosis"`
	// Blocked counts requests refused by an account block or guard since it
	// began, or since this process restored it: a count per refusal is not
	// worth a write.
	Blocked int64 `json:"blocked_requests"`
	// EnforceError is set when an enforcer failed to apply the ban; the ban
	// still holds in memory.
	EnforceError string `json:"enforce_error,omitempty"`
	// StoreError is set while the record waits for a failing Options.Store;
	// the ban holds meanwhile, and is stored once the store is back.
	StoreError string `json:"store_error,omitempty"`
	// Lifts are the latest lifts of the subject, customers' and operators'.
	Lifts []LiftNote `json:"lifts,omitempty"`
}

func sortByUntil(rs []Record) {
	slices.SortStableFunc(rs, func(a, b Record) int { return a.Until.Compare(b.Until) })
}
