package ban_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/detect"
)

// finder bans whatever subject and evidence the next event's Method names.
type finder map[string]detect.Finding

func (f finder) Observe(ev *detect.Event, dst []detect.Finding) []detect.Finding {
	if x, ok := f[ev.Method]; ok {
		dst = append(dst, x)
	}
	return dst
}

// Records keep their evidence packed; what a finding said must come back
// from Record and Bans as it was, for every shape of subject.
func TestRecordKeepsEvidence(t *testing.T) {
	c := newClock()
	t0 := c.Now().Add(-time.Hour)
	cases := map[string]detect.Finding{
		"small": {Subject: sub("203.0.113.9"), Cause: detect.BadCredentials, Proven: true, Evidence: detect.Evidence{
			Count: 5, First: t0, Last: c.Now(), Accounts: []string{"alice"}, DistinctAccounts: 1,
			UserAgents: []string{"Yealink"}, Ports: []uint16{5062}, Statuses: []int{403}, Detail: "5 guesses"}},
		"signalling": {Subject: sub("2001:db8::7/128"), Cause: detect.Signalling, Evidence: detect.Evidence{
			Count: 9, First: t0, Last: t0, Ports: []uint16{5060, 0}, Statuses: []int{0}, Detail: "junk"}},
		"prefix": {Subject: sub("2001:db8:1:2::/64"), Cause: detect.Scanner, Evidence: detect.Evidence{Count: 1, Detail: "scan"}},
		"block": {Subject: sub("bob@198.51.100.4"), Cause: detect.BadCredentials, Device: true, OthersOK: true, Evidence: detect.Evidence{
			Count: 5, Accounts: []string{"bob"}, Ports: []uint16{5060}, Statuses: []int{403, 401}, Detail: "typo"}},
		"anywhere": {Subject: sub("carol@*"), Cause: detect.BadCredentials, Guard: true, Proven: true, Evidence: detect.Evidence{
			Count: 6, Accounts: []string{"carol"}, Addresses: []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")},
			UserAgents: []string{"a", "b", "c"}, Ports: []uint16{1, 2, 3}, Statuses: []int{403, 403, 403}, Detail: "spread"}},
		"script": {Subject: sub("192.0.2.77"), Cause: detect.CallRate, Evidence: detect.Evidence{
			Count: 60, Accounts: []string{"d1", "d2"}, Interval: 1500 * time.Millisecond, Unanswered: 0.75, Statuses: []int{486, 70000}}},
	}
	g := newGuard(t, c, ban.Options{NoStandard: true, Detectors: []detect.Detector{finder(cases)}})
	for method, f := range cases {
		require.NoError(t, send(t, g, c, req{from: "192.0.2.200:5060", method: method, status: 200}), method)
		r, ok := g.Record(f.Subject)
		require.True(t, ok, method)
		assert.Equal(t, f.Subject, r.Subject, method)
		assert.Equal(t, f.Cause, r.Cause, method)
		assert.Equal(t, f.Proven, r.Proven, method)
		assert.Equal(t, f.Evidence, r.Evidence, method)
		assert.True(t, r.Since.Equal(c.Now()), method)
	}
	assert.Len(t, g.Bans(), len(cases))
}

// Evidence is attacker-written: a record keeps a capped sample of it, cut
// at character boundaries, and no alias of the caller's memory.
func TestRecordCapsEvidence(t *testing.T) {
	c := newClock()
	long := strings.Repeat("é", 1000)
	var accounts []string
	for i := range 50 {
		accounts = append(accounts, strings.Repeat("x", 100)+string(rune('a'+i%26)))
	}
	f := detect.Finding{Subject: sub("203.0.113.10"), Cause: detect.Scanner, Evidence: detect.Evidence{
		Count: 1, Accounts: accounts, UserAgents: []string{long, long}, Ports: make([]uint16, 100), Detail: long}}
	g := newGuard(t, c, ban.Options{NoStandard: true, Detectors: []detect.Detector{finder{"OPTIONS": f}}})
	require.NoError(t, send(t, g, c, req{from: "192.0.2.200:5060", method: "OPTIONS", status: 200}))
	accounts[0] = "changed"
	r, ok := g.Record(f.Subject)
	require.True(t, ok)
	ev := r.Evidence
	assert.LessOrEqual(t, len(ev.Accounts), 8)
	assert.LessOrEqual(t, len(ev.Ports), 8)
	assert.Equal(t, strings.Repeat("x", 64), ev.Accounts[0])
	for _, s := range append(ev.UserAgents, ev.Detail) {
		assert.True(t, utf8.ValidString(s))
		assert.True(t, strings.HasPrefix(long, s))
	}
	assert.LessOrEqual(t, len(ev.UserAgents[0]), 128)
	assert.LessOrEqual(t, len(ev.Detail), 512)
	assert.NotEmpty(t, ev.Detail)
}

// Lifted records leave their slot to the next; nothing of the old one may
// reach the new, and the old heap entries must not end it.
func TestRecordSlotReuse(t *testing.T) {
	c := newClock()
	a, b := sub("203.0.113.20"), sub("203.0.113.21")
	g := newGuard(t, c, ban.Options{NoStandard: true, Detectors: []detect.Detector{finder{
		"A": {Subject: a, Cause: detect.Scanner, Evidence: detect.Evidence{Count: 1, Detail: "a"}},
		"B": {Subject: b, Cause: detect.Signalling, Evidence: detect.Evidence{Count: 2, Detail: "b"}},
	}}})
	ctx := context.Background()
	require.NoError(t, send(t, g, c, req{from: "192.0.2.200:5060", method: "A", status: 200}))
	require.NoError(t, g.Lift(ctx, a))
	c.Advance(time.Minute)
	require.NoError(t, send(t, g, c, req{from: "192.0.2.200:5060", method: "B", status: 200}))
	assert.ErrorIs(t, g.Lift(ctx, a), ban.ErrNotFound)
	r, ok := g.Record(b)
	require.True(t, ok)
	assert.Equal(t, "b", r.Evidence.Detail)
	assert.Equal(t, int64(0), r.Blocked)
	assert.False(t, g.Banned(a.Prefix.Addr()))
	assert.True(t, g.Banned(b.Prefix.Addr()))
	n, err := g.Expire(ctx, r.Until.Add(-time.Second))
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.True(t, g.Banned(b.Prefix.Addr()))
}

func sub(s string) detect.Subject {
	x, err := detect.ParseSubject(s)
	if err != nil {
		panic(err)
	}
	return x
}
