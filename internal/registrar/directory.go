package registrar

import (
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sipban/sipban/ban"
)

// Directory is the registrar's account directory: the accounts a Server
// serves and what reloads noted of them. The users file holds no history,
// so a Directory compares each Accounts it is given with the one before:
// a changed password, or an account gone from the file without a '!' line,
// is dated at the reload; a '!' line's date is kept as the file says it. It
// remembers every name any file held, so its memory is bounded by what the
// operator wrote, not by traffic.
//
// A Directory is safe for concurrent use. Readers take the current snapshot
// without a lock; reloads run one at a time.
type Directory struct {
	mu   sync.Mutex // one Reload at a time
	snap atomic.Pointer[snapshot]
}

var _ ban.Directory = (*Directory)(nil)

// snapshot is the Directory after one load. It is never changed once
// stored, which is what lets readers go without a lock.
type snapshot struct {
	accounts Accounts
	active   []string                   // sorted, so that Similar's ties fall the same way each time
	info     map[string]ban.AccountInfo // every name any file held
}

// Changes counts what a Reload changed.
type Changes struct {
	Accounts  int // active accounts after the reload
	Added     int // accounts active now that were not before
	Passwords int // accounts active before and now whose password changed
	Deleted   int // accounts active before and not now
}

// NewDirectory returns a Directory serving a, the first file read: it knows
// no password change, and deletion times only where a's lines give them.
// It keeps a; do not change its maps.
func NewDirectory(a Accounts) *Directory {
	d := new(Directory)
	s, _ := next(&snapshot{}, a, time.Time{})
	d.snap.Store(s)
	return d
}

// Reload replaces the accounts with a, as read from the file again at now,
// and notes what changed since the last load. Requests checked after it
// returns use a. It keeps a; do not change its maps.
func (d *Directory) Reload(a Accounts, now time.Time) Changes {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, c := next(d.snap.Load(), a, now)
	d.snap.Store(s)
	return c
}

// Account describes the account name, active, deleted or never known.
func (d *Directory) Account(name string) ban.AccountInfo {
	return d.snap.Load().info[name]
}

// Similar returns the active account nearest to name, as ban.Closest finds
// it, unless name is itself active.
func (d *Directory) Similar(name string) (string, bool) {
	s := d.snap.Load()
	if s.info[name].Exists {
		return "", false
	}
	return ban.Closest(name, slices.Values(s.active))
}

// accounts returns the accounts to check requests against.
func (d *Directory) accounts() Accounts { return d.snap.Load().accounts }

// next returns the snapshot of a loaded at now after prev, and what
// changed.
func next(prev *snapshot, a Accounts, now time.Time) (*snapshot, Changes) {
	s := &snapshot{accounts: a, active: slices.Sorted(maps.Keys(a.Users)), info: make(map[string]ban.AccountInfo, len(prev.info))}
	maps.Copy(s.info, prev.info)
	c := Changes{Accounts: len(a.Users)}
	for name, old := range prev.info {
		_, active := a.Users[name]
		if old.Exists && !active && !a.Deleted[name] {
			// Gone without a '!' line: deleted, as far as we know, now.
			s.info[name] = ban.AccountInfo{Deleted: true, DeletedAt: now, PasswordChanged: old.PasswordChanged, Test: old.Test}
			c.Deleted++
		}
	}
	for name, pass := range a.Users {
		old := prev.info[name]
		in := ban.AccountInfo{Exists: true, PasswordChanged: old.PasswordChanged, Test: a.Test[name]}
		switch {
		case old.Exists && prev.accounts.Users[name] != pass:
			in.PasswordChanged = now
			c.Passwords++
		case old.Deleted:
			// Back after a deletion: its credentials were issued anew.
			in.PasswordChanged = now
			c.Added++
		case !old.Exists:
			c.Added++
		}
		s.info[name] = in
	}
	for name, del := range a.Deleted {
		if _, active := a.Users[name]; !del || active {
			continue // the Server serves an active account, so it is one
		}
		old := prev.info[name]
		in := ban.AccountInfo{Deleted: true, DeletedAt: old.DeletedAt, PasswordChanged: old.PasswordChanged, Test: a.Test[name]}
		if old.Exists {
			in.DeletedAt = now
			c.Deleted++
		}
		if t, ok := a.DeletedAt[name]; ok {
			in.DeletedAt = t
		}
		s.info[name] = in
	}
	return s, c
}
