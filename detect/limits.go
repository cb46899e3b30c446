package detect

import (
	"fmt"
	"time"
)

// Limit is a threshold within a sliding window. A zero Limit means the
// default; a negative Threshold turns the check off.
//
// Counting is conservative: an event counts toward its threshold for at least
// Window and at most 4/3 Window after it happened, never less.
type Limit struct {
	Threshold int           `json:"threshold" toml:"threshold"`
	Window    time.Duration `json:"window" toml:"window"`
}

// Limits are the thresholds of the standard detector, one per pattern. Zero
// fields take the defaults documented on each.
type Limits struct {
	// BadCredentials: rejected credentials from one address, any accounts.
	// Default 5 within 10 minutes, as fail2ban's SIP jails (maxretry 5, findtime 10m).
	BadCredentials Limit `json:"bad_credentials" toml:"bad_credentials"`
	// AccountFailures: rejected credentials or unknown-account answers for one
	// account from one address. Default 5 within 10 minutes.
	AccountFailures Limit `json:"account_failures" toml:"account_failures"`
	// SlowCredentials: rejected credentials from one address over a long
	// window, for the patient guesser who stays under BadCredentials. It is
	// not cleared when a ban ends. Default 10 within 24 hours.
	SlowCredentials Limit `json:"slow_credentials" toml:"slow_credentials"`
	// AccountCredentials: rejected credentials for one account from two
	// addresses or more (guessing spread over a botnet). Default 5 within 10
	// minutes.
	AccountCredentials Limit `json:"account_credentials" toml:"account_credentials"`
	// AccountSlow: rejected credentials for one account from anywhere over a
	// long window. Default 10 within 24 hours.
	AccountSlow Limit `json:"account_slow" toml:"account_slow"`
	// StaleAccount: requests for one missing account from one address.
	// Default 5 within 1 hour.
	StaleAccount Limit `json:"stale_account" toml:"stale_account"`
	// Enumeration: distinct account names asked for and not found, or
	// challenged and never answered with credentials. Default 10 within 10
	// minutes. Names are counted in a 32-bit hash set: never fewer than
	// Threshold names trigger it, a few more may be needed when names collide.
	Enumeration Limit `json:"enumeration" toml:"enumeration"`
	// CallRate: call attempts (INVITE) from one address; an answered call
	// counts a quarter. Default 30 within 1 minute.
	CallRate Limit `json:"call_rate" toml:"call_rate"`
	// Signalling: calls refused as sent (400, 403 without credentials, 404, 415,
	// 416, 420, 484, 488) and unreadable requests. Default 10 within 10 minutes.
	Signalling Limit `json:"signalling" toml:"signalling"`
	// OptionsSweep is how many distinct Request-URI users an address with no
	// successful authentication may probe with OPTIONS within the Enumeration
	// window. Default 10; negative turns the check off.
	OptionsSweep int `json:"options_sweep" toml:"options_sweep"`
	// DeviceAccounts is the most accounts one misconfigured device is assumed to
	// use; failures spread over more accounts are an attack. Default 2.
	DeviceAccounts int `json:"device_accounts" toml:"device_accounts"`
	// TrustWindow is how long a successful authentication from an address
	// vouches that it carries working devices. Default 1 hour.
	TrustWindow time.Duration `json:"trust_window" toml:"trust_window"`
	// V6Prefix is the prefix length IPv6 sources are counted by. Default 64;
	// 128 counts each address.
	V6Prefix int `json:"v6_prefix" toml:"v6_prefix"`
	// MaxSources bounds the sources tracked; the least recently seen is
	// forgotten to make room. Default 1,000,000 (about 128 MB).
	MaxSources int `json:"max_sources" toml:"max_sources"`
	// MaxAccounts bounds the accounts whose failures are counted across
	// addresses; the least recently failing of a few sampled makes room.
	// Only accounts that exist (rejected, not unknown) are counted. Default
	// 262,144 (about 16 MB).
	MaxAccounts int `json:"max_accounts" toml:"max_accounts"`
	// TrustUnproven counts every event as proven (Event.Proven). Set it only
	// for inputs that cannot tell, such as a capture of a server whose nonces
	// are not bound to addresses: a forged UDP source then weighs as much as
	// a real one.
	TrustUnproven bool `json:"trust_unproven" toml:"trust_unproven"`
}

// DefaultLimits returns the limits a zero Limits stands for.
func DefaultLimits() Limits {
	return Limits{
		BadCredentials:     Limit{5, 10 * time.Minute},
		AccountFailures:    Limit{5, 10 * time.Minute},
		SlowCredentials:    Limit{10, 24 * time.Hour},
		AccountCredentials: Limit{5, 10 * time.Minute},
		AccountSlow:        Limit{10, 24 * time.Hour},
		StaleAccount:       Limit{5, time.Hour},
		Enumeration:        Limit{10, 10 * time.Minute},
		CallRate:           Limit{30, time.Minute},
		Signalling:         Limit{10, 10 * time.Minute},
		OptionsSweep:       10,
		DeviceAccounts:     2,
		TrustWindow:        time.Hour,
		V6Prefix:           64,
		MaxSources:         1_000_000,
		MaxAccounts:        1 << 18,
	}
}

// WithDefaults returns l with its zero fields filled from DefaultLimits,
// or an error naming a field out of range: for detectors of other
// packages that read the same limits as Standard.
func (l Limits) WithDefaults() (Limits, error) { return l.withDefaults() }

// maxThreshold is what the window counters can count to.
const maxThreshold = 1000

// withDefaults fills zero fields and checks the rest.
func (l Limits) withDefaults() (Limits, error) {
	d := DefaultLimits()
	lim := []struct {
		name string
		v    *Limit
		def  Limit
	}{
		{"BadCredentials", &l.BadCredentials, d.BadCredentials},
		{"AccountFailures", &l.AccountFailures, d.AccountFailures},
		{"SlowCredentials", &l.SlowCredentials, d.SlowCredentials},
		{"AccountCredentials", &l.AccountCredentials, d.AccountCredentials},
		{"AccountSlow", &l.AccountSlow, d.AccountSlow},
		{"StaleAccount", &l.StaleAccount, d.StaleAccount},
		{"Enumeration", &l.Enumeration, d.Enumeration},
		{"CallRate", &l.CallRate, d.CallRate},
		{"Signalling", &l.Signalling, d.Signalling},
	}
	for _, x := range lim {
		if x.v.Threshold == 0 {
			x.v.Threshold = x.def.Threshold
		}
		if x.v.Window == 0 {
			x.v.Window = x.def.Window
		}
		if x.v.Threshold > maxThreshold {
			return l, fmt.Errorf("detect: %s threshold %d above %d", x.name, x.v.Threshold, maxThreshold)
		}
		if x.v.Window < time.Second {
			return l, fmt.Errorf("detect: %s window %v shorter than a second", x.name, x.v.Window)
		}
	}
	if l.OptionsSweep == 0 {
		l.OptionsSweep = d.OptionsSweep
	}
	// Distinct names are counted in 32-bit sets.
	if l.Enumeration.Threshold > 32 || l.OptionsSweep > 32 {
		return l, fmt.Errorf("detect: Enumeration threshold %d or OptionsSweep %d above 32 distinct names", l.Enumeration.Threshold, l.OptionsSweep)
	}
	if l.DeviceAccounts == 0 {
		l.DeviceAccounts = d.DeviceAccounts
	}
	if l.DeviceAccounts < 0 {
		return l, fmt.Errorf("detect: DeviceAccounts %d is negative", l.DeviceAccounts)
	}
	if l.TrustWindow == 0 {
		l.TrustWindow = d.TrustWindow
	}
	if l.TrustWindow < 0 {
		return l, fmt.Errorf("detect: TrustWindow %v is negative", l.TrustWindow)
	}
	if l.V6Prefix == 0 {
		l.V6Prefix = d.V6Prefix
	}
	if l.V6Prefix < 16 || l.V6Prefix > 128 {
		return l, fmt.Errorf("detect: V6Prefix %d outside 16..128", l.V6Prefix)
	}
	if l.MaxSources == 0 {
		l.MaxSources = d.MaxSources
	}
	if l.MaxSources < 0 || l.MaxSources > 1<<30 {
		return l, fmt.Errorf("detect: MaxSources %d outside 1..2^30", l.MaxSources)
	}
	if l.MaxAccounts == 0 {
		l.MaxAccounts = d.MaxAccounts
	}
	if l.MaxAccounts < 0 || l.MaxAccounts > 1<<30 {
		return l, fmt.Errorf("detect: MaxAccounts %d outside 1..2^30", l.MaxAccounts)
	}
	return l, nil
}
