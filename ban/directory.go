package ban

import (
	"iter"
	"time"
)

// AccountInfo is what a Directory says of one account name. The zero value
// means the directory knows nothing of it.
type AccountInfo struct {
	// Exists reports that the account can log in now.
	Exists bool `json:"exists"`
	// Deleted reports that the account existed and was deleted, at
	// DeletedAt if that is known.
	Deleted   bool      `json:"deleted,omitempty"`
	DeletedAt time.Time `json:"deleted_at,omitzero"`
	// PasswordChanged is when its password last changed, if known.
	PasswordChanged time.Time `json:"password_changed,omitzero"`
	// Test marks an account kept for tests, whose devices are often left
	// configured after it goes.
	Test bool `json:"test,omitempty"`
}

// Directory is the caller's account directory. A Guard asks it only when it
// explains a record, never while judging traffic; without one, explanations
// say less but still name the cause. It must be safe for concurrent use.
type Directory interface {
	// Account describes the account name.
	Account(name string) AccountInfo
	// Similar returns an existing account that name is likely a typo of:
	// one or two edits away, a swap of neighbours counting as one. Closest
	// does this over a list of names.
	Similar(name string) (string, bool)
}

// Closest returns the name in names nearest to name within two edits
// (insertion, deletion, substitution, or a swap of neighbouring
// characters), the first of equally near ones, or false. name itself does
// not count.
func Closest(name string, names iter.Seq[string]) (string, bool) {
	best, bestD := "", 3
	a := []rune(name)
	for n := range names {
		if n == name {
			continue
		}
		if d := editDistance(a, []rune(n), bestD); d < bestD {
			best, bestD = n, d
		}
	}
	return best, bestD <= 2
}

// editDistance is the optimal string alignment distance between a and b,
// or limit when it is at least limit.
func editDistance(a, b []rune, limit int) int {
	if abs(len(a)-len(b)) >= limit {
		return limit
	}
	// Three rows: the one before last is needed for a swap.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		low := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
			low = min(low, cur[j])
		}
		if low >= limit {
			return limit
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return min(prev[len(b)], limit)
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
