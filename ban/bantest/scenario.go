package bantest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// ScannerUserAgent is the User-Agent the Scanner scenario sends: SIPVicious's,
// the one most seen in the wild.
const ScannerUserAgent = "friendly-scanner"

// Result tallies a scenario's attempts. An attempt is one Register, Invite
// or Options exchange, which takes two requests when a challenge is
// answered; its outcome is its last request's. The zero Result is empty.
type Result struct {
	// Sent counts attempts made.
	Sent int
	// Answered counts attempts whose requests all got a final response.
	Answered int
	// Unanswered counts attempts that met silence (ErrNoAnswer).
	Unanswered int
	// Statuses counts the final status of each answered attempt.
	Statuses map[int]int
}

// String formats r as "sent 8, answered 5, unanswered 3, statuses 403:5".
func (r Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sent %d, answered %d, unanswered %d", r.Sent, r.Answered, r.Unanswered)
	if len(r.Statuses) > 0 {
		b.WriteString(", statuses")
		for _, st := range slices.Sorted(maps.Keys(r.Statuses)) {
			fmt.Fprintf(&b, " %d:%d", st, r.Statuses[st])
		}
	}
	return b.String()
}

// add tallies one attempt; it returns err unless the attempt merely went
// unanswered.
func (r *Result) add(status int, err error) error {
	r.Sent++
	switch {
	case errors.Is(err, ErrNoAnswer):
		r.Unanswered++
		return nil
	case err != nil:
		return err
	}
	r.Answered++
	if r.Statuses == nil {
		r.Statuses = make(map[int]int)
	}
	r.Statuses[status]++
	return nil
}

// repeat runs attempt n times, stopping at the first error other than
// silence.
func repeat(n int, attempt func(i int) (int, error)) (Result, error) {
	var r Result
	for i := range n {
		if err := r.add(attempt(i)); err != nil {
			return r, err
		}
	}
	return r, nil
}

// GuessPasswords registers account n times, each with a different wrong
// password, answering every challenge: a password-guessing attack, or a
// phone with a typo in its password.
func GuessPasswords(ctx context.Context, c *Client, account string, n int) (Result, error) {
	return repeat(n, func(i int) (int, error) {
		return c.Register(ctx, account, fmt.Sprintf("guess-%d", i))
	})
}

// EnumerateAccounts registers each name once with a made-up password,
// answering challenges: accounts that exist answer 403, those that do not
// 404 (or 403 on servers that hide which accounts exist).
func EnumerateAccounts(ctx context.Context, c *Client, names []string) (Result, error) {
	return repeat(len(names), func(i int) (int, error) {
		return c.Register(ctx, names[i], "enumerate")
	})
}

// ProbeAccounts sends one REGISTER per name and never answers a challenge,
// as svwar does: existing accounts answer 401, missing ones 404 on servers
// that reveal it.
func ProbeAccounts(ctx context.Context, c *Client, names []string) (Result, error) {
	return repeat(len(names), func(i int) (int, error) {
		return c.Register(ctx, names[i], "")
	})
}

// FloodInvites calls target n times in a row as account, authenticating
// with password: a dialer script, or toll fraud from a stolen account.
func FloodInvites(ctx context.Context, c *Client, account, password, target string, n int) (Result, error) {
	return repeat(n, func(int) (int, error) {
		return c.Invite(ctx, account, password, target)
	})
}

// StaleDevice registers account n times with an old password: a device
// still configured with an account that was deleted. A server that knows
// the account is gone answers 404 without a challenge.
func StaleDevice(ctx context.Context, c *Client, account string, n int) (Result, error) {
	return repeat(n, func(int) (int, error) {
		return c.Register(ctx, account, "old-password")
	})
}

// HealthyPhone registers account n times with its right password, as a
// phone re-registers.
func HealthyPhone(ctx context.Context, c *Client, account, password string, n int) (Result, error) {
	return repeat(n, func(int) (int, error) {
		return c.Register(ctx, account, password)
	})
}

// Scanner makes n attempts with User-Agent ScannerUserAgent, alternating
// OPTIONS to and an unanswered REGISTER for extensions 100, 101, ... as
// SIPVicious's svmap and svwar do.
func Scanner(ctx context.Context, c *Client, n int) (Result, error) {
	return repeat(n, func(i int) (int, error) {
		ext := fmt.Sprint(100 + i)
		if i%2 == 0 {
			return c.options(ctx, ext, ScannerUserAgent)
		}
		return c.register(ctx, ext, "", ScannerUserAgent)
	})
}

// Names returns n account names: prefix followed by 1, 2, ... n.
func Names(prefix string, n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprint(prefix, i+1)
	}
	return names
}

// WaitUntil calls cond every millisecond until it reports true, and returns
// ctx.Err() if ctx is done first. Servers report a transaction after they
// answer it, so a ban lands a moment after the answer that caused it: wait
// for it before asserting that the source is refused.
func WaitUntil(ctx context.Context, cond func() bool) error {
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}
