package ban

import (
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/sipban/sipban/detect"
)

// Policy decides what a finding costs. The zero Policy is the default policy;
// each field says what its zero value means. The json and toml tags name
// the keys of a configuration file; BanTime, keyed by causes, is left to the
// file's reader, since TOML keys are strings.
type Policy struct {
	// Limits are the thresholds and windows of the standard detector, one per
	// cause; see detect.Limits for the defaults (an address is banned by its 5th
	// rejected credential within 10 minutes).
	Limits detect.Limits `json:"limits" toml:"limits"`
	// BanTime is the length of a first ban, per cause. A missing cause takes
	// DefaultBanTime.
	BanTime map[detect.Cause]time.Duration `json:"ban_time,omitempty" toml:"-"`
	// Factor multiplies the length of each new ban of the same subject, like
	// fail2ban's bantime.increment. Zero means 2; 1 turns escalation off.
	Factor float64 `json:"factor" toml:"factor"`
	// MaxBanTime caps escalation. Zero means 7 days.
	MaxBanTime time.Duration `json:"max_ban_time" toml:"max_ban_time"`
	// ForgetAfter is how long after its last ban ends a subject starts again
	// at the first level. Zero means 7 days.
	ForgetAfter time.Duration `json:"forget_after" toml:"forget_after"`
	// Allow lists prefixes that are never banned nor tracked.
	Allow []netip.Prefix `json:"allow,omitempty" toml:"allow"`
	// MaxBans bounds the active records (bans, account blocks, guards) and
	// the remembered offenders. Zero means 1,000,000. At the bound a finding
	// with proof (detect.Finding.Proven) evicts the record that ends
	// soonest, one without proof first; a finding without proof is refused
	// with ErrTooManyBans: it may come from forged sources filling the
	// table, and its sender cannot have a password checked anyway.
	MaxBans int `json:"max_bans" toml:"max_bans"`
	// KnownFor is how long a proven login keeps a device (address, account,
	// User-Agent) known, so that guards keep serving it. Zero means 30 days.
	KnownFor time.Duration `json:"known_for" toml:"known_for"`
	// MaxKnown bounds the known devices remembered. Zero means 1,000,000.
	MaxKnown int `json:"max_known" toml:"max_known"`
	// Aggregate6 bans a whole IPv6 prefix of Aggregate6Bits (zero means 48)
	// once this many address bans lie inside it. Zero means 4; negative
	// turns it off.
	Aggregate6     int `json:"aggregate6" toml:"aggregate6"`
	Aggregate6Bits int `json:"aggregate6_bits" toml:"aggregate6_bits"`
	// Aggregate4 does the same for IPv4 prefixes of Aggregate4Bits (zero
	// means 24). Zero turns it off, the default: one IPv4 /24 often holds
	// many unrelated customers.
	Aggregate4     int `json:"aggregate4" toml:"aggregate4"`
	Aggregate4Bits int `json:"aggregate4_bits" toml:"aggregate4_bits"`
	// Probation is how long after a customer's lift (Guard.LiftAs) the
	// same cause coming back is a repeat: then the second proven failure
	// makes the record again, two levels above the lifted one (one as for
	// any repeat offence, one for the broken probation). Zero means 24 hours.
	Probation time.Duration `json:"probation" toml:"probation"`
	// SelfLifts bounds the lifts one customer may make in SelfLiftPeriod;
	// past it only an operator lifts. Zero means 3 in 7 days.
	SelfLifts      int           `json:"self_lifts" toml:"self_lifts"`
	SelfLiftPeriod time.Duration `json:"self_lift_period" toml:"self_lift_period"`
}

// DefaultBanTime returns the length of a first ban for c when Policy.BanTime
// does not name it: 1 day for scanners, 1 hour for enumeration and bad
// credentials, 30 minutes for the rest (fail2ban's SIP jails use 10 minutes).
func DefaultBanTime(c detect.Cause) time.Duration {
	switch c {
	case detect.Scanner:
		return 24 * time.Hour
	case detect.Enumeration, detect.BadCredentials:
		return time.Hour
	}
	return 30 * time.Minute
}

// policy is a Policy with defaults applied.
type policy struct {
	Policy
	banTime map[detect.Cause]time.Duration
}

func (p Policy) compile() (*policy, error) {
	c := &policy{Policy: p, banTime: make(map[detect.Cause]time.Duration)}
	for _, cause := range detect.Causes() {
		c.banTime[cause] = DefaultBanTime(cause)
	}
	for cause, d := range p.BanTime {
		if d <= 0 {
			return nil, fmt.Errorf("ban: ban time for %v is %v", cause, d)
		}
		c.banTime[cause] = d
	}
	if c.Factor == 0 {
		c.Factor = 2
	}
	if c.Factor < 1 || math.IsNaN(c.Factor) || math.IsInf(c.Factor, 0) {
		return nil, fmt.Errorf("ban: factor %v below 1", c.Factor)
	}
	if c.MaxBanTime == 0 {
		c.MaxBanTime = 7 * 24 * time.Hour
	}
	if c.ForgetAfter == 0 {
		c.ForgetAfter = 7 * 24 * time.Hour
	}
	if c.MaxBanTime < 0 || c.ForgetAfter < 0 {
		return nil, fmt.Errorf("ban: negative MaxBanTime or ForgetAfter")
	}
	if c.MaxBans == 0 {
		c.MaxBans = 1_000_000
	}
	if c.MaxBans < 0 {
		return nil, fmt.Errorf("ban: MaxBans %d is negative", c.MaxBans)
	}
	if c.KnownFor == 0 {
		c.KnownFor = 30 * 24 * time.Hour
	}
	if c.MaxKnown == 0 {
		c.MaxKnown = 1_000_000
	}
	if c.KnownFor < 0 || c.MaxKnown < 0 {
		return nil, fmt.Errorf("ban: negative KnownFor or MaxKnown")
	}
	if c.Probation == 0 {
		c.Probation = 24 * time.Hour
	}
	if c.SelfLifts == 0 {
		c.SelfLifts = 3
	}
	if c.SelfLiftPeriod == 0 {
		c.SelfLiftPeriod = 7 * 24 * time.Hour
	}
	if c.Probation < 0 || c.SelfLifts < 0 || c.SelfLiftPeriod < 0 {
		return nil, fmt.Errorf("ban: negative Probation, SelfLifts or SelfLiftPeriod")
	}
	if c.Aggregate6 == 0 {
		c.Aggregate6 = 4
	}
	if c.Aggregate6Bits == 0 {
		c.Aggregate6Bits = 48
	}
	if c.Aggregate4Bits == 0 {
		c.Aggregate4Bits = 24
	}
	if c.Aggregate6Bits < 16 || c.Aggregate6Bits > 127 || c.Aggregate4Bits < 8 || c.Aggregate4Bits > 31 {
		return nil, fmt.Errorf("ban: aggregate prefix lengths /%d (IPv6) and /%d (IPv4) out of range", c.Aggregate6Bits, c.Aggregate4Bits)
	}
	c.Allow = make([]netip.Prefix, len(p.Allow))
	for i, a := range p.Allow {
		if !a.IsValid() {
			return nil, fmt.Errorf("ban: invalid allow-list prefix %v", a)
		}
		c.Allow[i] = netip.PrefixFrom(a.Addr().Unmap(), a.Bits()-unmapBits(a.Addr())).Masked()
	}
	return c, nil
}

// unmapBits is how many prefix bits an IPv4-mapped address loses when unmapped.
func unmapBits(a netip.Addr) int {
	if a.Is4In6() {
		return 96
	}
	return 0
}

// duration returns the length of a ban of the given level for cause.
func (p *policy) duration(c detect.Cause, level int) time.Duration {
	base, ok := p.banTime[c]
	if !ok {
		base = DefaultBanTime(c)
	}
	d := float64(base) * math.Pow(p.Factor, float64(level))
	if d > float64(p.MaxBanTime) {
		return p.MaxBanTime
	}
	return time.Duration(d)
}

// allowed reports whether addr is on the allow-list.
func (p *policy) allowed(addr netip.Addr) bool {
	for _, a := range p.Allow {
		if a.Contains(addr) {
			return true
		}
	}
	return false
}

// allowedPrefix reports whether any allowed address lies inside pre, or pre
// inside an allowed prefix.
func (p *policy) allowedPrefix(pre netip.Prefix) bool {
	for _, a := range p.Allow {
		if a.Overlaps(pre) {
			return true
		}
	}
	return false
}
