package ban_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/detect"
)

// directory is a fixed ban.Directory.
type directory map[string]ban.AccountInfo

func (d directory) Account(name string) ban.AccountInfo { return d[name] }
func (d directory) Similar(name string) (string, bool) {
	var names []string
	for n, i := range d {
		if i.Exists {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return ban.Closest(name, slices.Values(names))
}

// site plays devices at one office address.
type site struct {
	t *testing.T
	g *ban.Guard
	c *clock
}

// dev sends one request from port as account, answered status; REGISTERs
// carry credentials, INVITEs not.
func (s site) dev(port uint16, agent, method, account string, status int) {
	s.t.Helper()
	s.send(port, agent, method, account, status, method == "REGISTER")
}

// call sends an authenticated INVITE from port, answered status.
func (s site) call(port uint16, agent, account string, status int) {
	s.t.Helper()
	s.send(port, agent, "INVITE", account, status, true)
}

func (s site) send(port uint16, agent, method, account string, status int, creds bool) {
	s.c.Advance(time.Second)
	ev := detect.Event{Source: netip.AddrPortFrom(netip.MustParseAddr("198.51.100.50"), port), Transport: "udp",
		Method: method, Account: account, Credentials: creds, Proven: true, Status: status, UserAgent: agent,
		UnknownAccount: status == 404 && method == "REGISTER"}
	require.NoError(s.t, s.g.Observe(context.Background(), &ev))
}

const (
	deskUA  = "Yealink SIP-T46S 66.86.0.15"
	softUA  = "Zoiper rv2.10.19.2"
	pbxUA   = "Asterisk PBX 20.5.0"
	testUA  = "Grandstream HT802 1.0.43.11"
	healthy = 5060
	suspect = 5062
)

// Every cause against a healthy phone at the same address: the cause is
// named, the suspect marked, and the healthy phone never.
func TestExplainCauses(t *testing.T) {
	dir := directory{
		"alice": {Exists: true}, "bob": {Exists: true},
		"carol": {Exists: true, PasswordChanged: time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)},
		"dave":  {Deleted: true, DeletedAt: time.Date(2026, 10, 30, 0, 0, 0, 0, time.UTC)},
		"lab1":  {Deleted: true, Test: true},
	}
	cases := []struct {
		name       string
		play       func(s site)
		subject    string
		cause      string
		didYouMean string
		minConf    float64
	}{
		{"outdated password", func(s site) {
			s.dev(suspect, softUA, "REGISTER", "carol", 200)
			for range 5 {
				s.dev(suspect, softUA, "REGISTER", "carol", 403)
			}
		}, "carol@198.51.100.50", ban.CauseOutdated, "", 0.9},
		{"password typo", func(s site) {
			for range 5 {
				s.dev(suspect, softUA, "REGISTER", "carol", 403)
			}
		}, "carol@198.51.100.50", ban.CauseTypo, "", 0.7},
		{"account name typo", func(s site) {
			for range 5 {
				s.dev(suspect, softUA, "REGISTER", "alcie", 404)
				s.c.Advance(time.Minute)
			}
		}, "alcie@198.51.100.50", ban.CauseTypo, "alice", 0.8},
		{"deleted account, used before", func(s site) {
			s.dev(suspect, deskUA, "REGISTER", "dave", 200)
			for range 5 {
				s.dev(suspect, deskUA, "REGISTER", "dave", 404)
				s.c.Advance(time.Minute)
			}
		}, "dave@198.51.100.50", ban.CauseOutdated, "", 0.9},
		{"test device", func(s site) {
			for range 5 {
				s.dev(suspect, testUA, "REGISTER", "lab1", 404)
				s.c.Advance(time.Minute)
			}
		}, "lab1@198.51.100.50", ban.CauseTestDevice, "", 0.9},
		{"pbx", func(s site) {
			s.dev(suspect, pbxUA, "REGISTER", "bob", 200)
			for range 10 {
				s.dev(suspect, pbxUA, "INVITE", "bob", 488)
			}
		}, "bob@198.51.100.50", ban.CausePBX, "", 0.8},
		{"call script", func(s site) {
			s.dev(suspect, pbxUA, "REGISTER", "bob", 200)
			for range 90 {
				s.call(suspect, pbxUA, "bob", 480)
			}
		}, "bob@198.51.100.50", ban.CauseScript, "", 0.8},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			g := newGuard(t, c, ban.Options{Directory: dir})
			s := site{t, g, c}
			s.dev(healthy, deskUA, "REGISTER", "alice", 200)
			tc.play(s)
			s.dev(healthy, deskUA, "REGISTER", "alice", 200)
			r, ok := g.Record(sub(tc.subject))
			require.True(t, ok, "no record on %s; have %v", tc.subject, subjects(g.Bans()))
			d := r.Diagnosis
			assert.Equal(t, tc.cause, d.Cause)
			assert.Equal(t, tc.didYouMean, d.DidYouMean)
			assert.GreaterOrEqual(t, d.Confidence, tc.minConf)
			assert.False(t, d.Attack)
			var marked []uint16
			for _, dv := range d.Devices {
				if dv.Suspect {
					marked = append(marked, dv.Port)
				}
				if dv.Port == healthy {
					assert.False(t, dv.Suspect, "the healthy phone is marked")
					assert.Equal(t, deskUA, dv.UserAgent)
					assert.Equal(t, []string{"alice"}, dv.Accounts)
					assert.Equal(t, 2, dv.Successes)
				}
			}
			assert.Equal(t, []uint16{suspect}, marked)
			assert.Len(t, d.Devices, 2)
			assert.Equal(t, ban.Admitted, g.Admit(addr("198.51.100.50"), "alice", deskUA))
			assert.False(t, g.Banned(addr("198.51.100.50")))
		})
	}
}

func TestExplainAttacks(t *testing.T) {
	c := newClock()
	g := newGuard(t, c, ban.Options{Directory: directory{"alice": {Exists: true}}})
	require.NoError(t, send(t, g, c, req{from: "203.0.113.70:5060", method: "OPTIONS", status: 200}))
	ev := detect.Event{Source: netip.MustParseAddrPort("203.0.113.71:5070"), Method: "OPTIONS", UserAgent: "friendly-scanner", Status: 200}
	require.NoError(t, g.Observe(context.Background(), &ev))
	var guess []req
	for i := range 5 {
		guess = append(guess, req{from: "203.0.113.72:5060", account: string(rune('a' + i)), creds: true, status: 403})
	}
	require.NoError(t, send(t, g, c, guess...))
	for _, s := range []string{"203.0.113.71", "203.0.113.72"} {
		r, ok := g.Record(sub(s))
		require.True(t, ok, s)
		assert.Equal(t, ban.CauseAttack, r.Diagnosis.Cause, s)
		assert.True(t, r.Diagnosis.Attack, s)
		require.Len(t, r.Diagnosis.Devices, 1, s)
		assert.True(t, r.Diagnosis.Devices[0].Suspect, s)
	}
	// Junk: requests never answered because unreadable are named so, not
	// as status 0 nor as refused.
	for range 10 {
		c.Advance(time.Second)
		ev := detect.Event{Source: netip.MustParseAddrPort("203.0.113.73:5060"), Malformed: "no Via"}
		require.NoError(t, g.Observe(context.Background(), &ev))
	}
	r, ok := g.Record(sub("203.0.113.73"))
	require.True(t, ok)
	assert.Equal(t, detect.Signalling, r.Cause)
	assert.Contains(t, r.Diagnosis.Summary, "10 requests that could not be read and were never answered")
	assert.NotContains(t, r.Diagnosis.Summary, "refused")
	de, _ := g.Explain(r.Subject, "de")
	assert.Contains(t, de.Diagnosis.Summary, "10 Anfragen, die nicht lesbar waren und nie beantwortet wurden")

	// An OPTIONS sweep is named so, not blamed on its User-Agent, and
	// in the reader's language.
	for i := range 20 {
		c.Advance(time.Second)
		ev := detect.Event{Source: netip.MustParseAddrPort("203.0.113.74:5060"), Method: "OPTIONS", Target: fmt.Sprint(100 + i),
			UserAgent: "Zoiper rv2.10.20.5", Status: 200}
		require.NoError(t, g.Observe(context.Background(), &ev))
	}
	r, ok = g.Record(sub("203.0.113.74"))
	require.True(t, ok)
	assert.Equal(t, detect.Scanner, r.Cause)
	assert.Regexp(t, `^An OPTIONS sweep over about \d+ distinct users`, r.Diagnosis.Summary)
	assert.NotContains(t, r.Diagnosis.Summary, "Zoiper")
	de, _ = g.Explain(r.Subject, "de")
	assert.Regexp(t, `^Eine OPTIONS-Abfrage nach etwa \d+ verschiedenen Benutzern`, de.Diagnosis.Summary)
}

// German comes for every cause, and an unknown language falls back to
// English; callers may add their own.
func TestExplainLanguages(t *testing.T) {
	c := newClock()
	fr := ban.Messages{"typo.password.advice": "Ressaisissez le mot de passe du compte %[1]q sur l'appareil (%[2]s)."}
	g := newGuard(t, c, ban.Options{Messages: map[string]ban.Messages{"fr": fr}})
	s := site{t, g, c}
	s.dev(healthy, deskUA, "REGISTER", "alice", 200)
	for range 5 {
		s.dev(suspect, softUA, "REGISTER", "carol", 403)
	}
	subj := sub("carol@198.51.100.50")
	en, _ := g.Explain(subj, "en")
	de, _ := g.Explain(subj, g.Language("de-AT"))
	fr2, _ := g.Explain(subj, g.Language("fr-CA", "de"))
	xx, _ := g.Explain(subj, g.Language("xx"))
	assert.Equal(t, "de", g.Language("de-AT"))
	assert.Equal(t, "fr", g.Language("fr-CA", "de"))
	assert.Equal(t, "en", g.Language("xx"))
	assert.NotEqual(t, en.Diagnosis.Summary, de.Diagnosis.Summary)
	assert.NotEqual(t, en.Diagnosis.Advice, de.Diagnosis.Advice)
	assert.Equal(t, en.Diagnosis.Cause, de.Diagnosis.Cause)
	assert.Equal(t, en.Diagnosis.Devices, de.Diagnosis.Devices)
	assert.Equal(t, "Ressaisissez le mot de passe du compte \"carol\" sur l'appareil (address 198.51.100.50/32, source port(s) 5062, User-Agent \"Zoiper rv2.10.19.2\").", fr2.Diagnosis.Advice[0])
	assert.Equal(t, en.Diagnosis.Summary, fr2.Diagnosis.Summary) // the key fr lacks
	assert.Equal(t, en.Diagnosis, xx.Diagnosis)
}

// A site lists its 64 most recently seen devices; the suspect is among
// them however many came before.
func TestExplainManyDevices(t *testing.T) {
	c := newClock()
	g := newGuard(t, c, ban.Options{})
	s := site{t, g, c}
	for i := range 70 {
		s.dev(uint16(6000+i), deskUA, "REGISTER", "alice", 200)
	}
	for range 5 {
		s.dev(suspect, softUA, "REGISTER", "carol", 403)
	}
	r, ok := g.Record(sub("carol@198.51.100.50"))
	require.True(t, ok)
	ds := r.Diagnosis.Devices
	require.Len(t, ds, 64)
	assert.Equal(t, uint16(suspect), ds[0].Port, "the most recent first")
	assert.True(t, ds[0].Suspect)
	for _, d := range ds[1:] {
		assert.False(t, d.Suspect)
		assert.GreaterOrEqual(t, d.Port, uint16(6007), "the oldest made room")
	}
}

// slowDirectory, once armed, blocks every question until released, and
// says when the first one came.
type slowDirectory struct {
	armed   atomic.Bool
	asked   chan struct{}
	once    sync.Once
	release chan struct{}
}

func (d *slowDirectory) wait() {
	if d.armed.Load() {
		d.once.Do(func() { close(d.asked) })
		<-d.release
	}
}
func (d *slowDirectory) Account(name string) ban.AccountInfo {
	d.wait()
	return ban.AccountInfo{Exists: true}
}
func (d *slowDirectory) Similar(string) (string, bool) { d.wait(); return "", false }

// An explanation waiting on a slow Directory holds up neither bans nor an
// operator's lifts, which never ask it.
func TestExplainSlowDirectory(t *testing.T) {
	c := newClock()
	dir := &slowDirectory{asked: make(chan struct{}), release: make(chan struct{})}
	g := newGuard(t, c, ban.Options{Directory: dir})
	s := site{t, g, c}
	subj := typoBlock(t, s)
	dir.armed.Store(true)
	explained := make(chan struct{})
	go func() {
		defer close(explained)
		g.Explain(subj, "en")
	}()
	<-dir.asked
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 5 { // a guesser elsewhere is banned meanwhile
			ev := detect.Event{Source: netip.MustParseAddrPort("203.0.113.90:5060"), Method: "REGISTER",
				Account: fmt.Sprint("x", i), Credentials: true, Proven: true, Status: 403}
			_ = g.Observe(context.Background(), &ev)
		}
		// The operator lifts the very block being explained.
		assert.NoError(t, g.Lift(context.Background(), subj))
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("judging traffic or an operator's lift waited for the Directory")
	}
	assert.True(t, g.Banned(addr("203.0.113.90")))
	_, ok := g.Record(subj)
	assert.False(t, ok, "lifted")
	close(dir.release)
	<-explained
}

// A span is rounded up, as "within" promises: five guesses in one instant
// read "within 100 ms", not "within 0 ms".
func TestExplainSpanRoundsUp(t *testing.T) {
	c := newClock()
	g := newGuard(t, c, ban.Options{})
	for i := range 5 {
		ev := detect.Event{Source: netip.MustParseAddrPort("203.0.113.75:5060"), Transport: "udp", Method: "REGISTER",
			Account: fmt.Sprint("u", i), Credentials: true, Proven: true, Status: 403}
		require.NoError(t, g.Observe(context.Background(), &ev))
	}
	r, ok := g.Record(sub("203.0.113.75"))
	require.True(t, ok)
	assert.Contains(t, r.Diagnosis.Summary, "within 100 ms")
}
