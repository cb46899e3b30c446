package sipauth_test

import (
	"testing"

	"github.com/sipban/sipban/sipauth"
)

func BenchmarkChallenge(b *testing.B) {
	a := newAuth(b, &clock{t0})
	b.ReportAllocs()
	for b.Loop() {
		_ = a.Challenge(phone, false)
	}
}

func BenchmarkCheck(b *testing.B) {
	a := newAuth(b, &clock{t0})
	ss := map[string]string{} // the first REGISTER of each verdict: sipp's accepted
	for _, s := range seeds(b) {
		if _, ok := ss[s.verdict]; !ok && s.method == "REGISTER" {
			ss[s.verdict] = s.cred
		}
	}
	for _, bb := range []struct {
		name, cred string
		want       sipauth.Verdict
	}{
		{"accepted", ss["accepted"], sipauth.Accepted},
		{"rejected", ss["rejected"], sipauth.Rejected},
		{"unproven", ss["unproven"], sipauth.Unproven},
		{"garbled", `Digest username="alice", realm=`, sipauth.Unproven},
	} {
		b.Run(bb.name, func(b *testing.B) {
			if v, _ := a.Check(loopback, "REGISTER", bb.cred, "alice-secret"); v != bb.want {
				b.Fatalf("verdict %v, want %v", v, bb.want)
			}
			b.ReportAllocs()
			for b.Loop() {
				_, _ = a.Check(loopback, "REGISTER", bb.cred, "alice-secret")
			}
		})
	}
}
