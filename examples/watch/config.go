package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/sipban/sipban/ban"
	"github.com/sipban/sipban/detect"
)

// file is the configuration file (-config), in TOML. Its keys are the
// flags' names, and [policy] is a ban.Policy, durations written as "10m".
// A flag given on the command line wins over the file.
type file struct {
	Read      string   `toml:"r"`
	Interface string   `toml:"i"`
	HEP       string   `toml:"hep"`
	HEPKey    string   `toml:"hep-key"`
	HEPFrom   []string `toml:"hep-from"`
	Server    []string `toml:"server"`
	Enforcer  string   `toml:"enforcer"`
	Table     string   `toml:"table"`
	Keep      bool     `toml:"keep"`
	Allow     []string `toml:"allow"`
	Ports     []string `toml:"ports"`
	AllPorts  bool     `toml:"all-ports"`
	BanLocal  bool     `toml:"ban-local"`
	State     string   `toml:"state"`
	Redis     string   `toml:"redis"`
	Admin     string   `toml:"admin"`
	Metrics   string   `toml:"metrics"`
	JSON      bool     `toml:"json"`
	Policy    ban.Policy
}

// banTimes is [policy.ban_time], which ban.Policy leaves to its reader:
// cause names to durations.
type banTimes struct {
	Policy struct {
		BanTime map[string]time.Duration `toml:"ban_time"`
	} `toml:"policy"`
}

// loadConfig reads the file at path into cfg, for each setting no flag of
// set gave; it refuses unknown keys by name.
func loadConfig(path string, cfg *config, set map[string]bool) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("-config: %w", err)
	}
	var f file
	md, err := toml.Decode(string(b), &f)
	if err != nil {
		return fmt.Errorf("-config %s: %w", path, err)
	}
	var bt banTimes
	if _, err := toml.Decode(string(b), &bt); err != nil {
		return fmt.Errorf("-config %s: [policy.ban_time]: %w", path, err)
	}
	var unknown []string
	for _, k := range md.Undecoded() {
		if len(k) < 2 || k[0] != "policy" || k[1] != "ban_time" {
			unknown = append(unknown, k.String())
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("-config %s: unknown keys: %s", path, strings.Join(unknown, ", "))
	}
	for name, d := range bt.Policy.BanTime {
		var c detect.Cause
		if err := c.UnmarshalText([]byte(name)); err != nil {
			return fmt.Errorf("-config %s: [policy.ban_time] %q: %w", path, name, err)
		}
		if f.Policy.BanTime == nil {
			f.Policy.BanTime = map[detect.Cause]time.Duration{}
		}
		f.Policy.BanTime[c] = d
	}
	str := func(flag string, dst *string, v string) {
		if !set[flag] && v != "" {
			*dst = v
		}
	}
	list := func(flag string, dst *string, v []string) { str(flag, dst, strings.Join(v, ",")) }
	boolean := func(flag string, dst *bool, v bool) {
		if !set[flag] && v {
			*dst = v
		}
	}
	str("r", &cfg.file, f.Read)
	str("i", &cfg.iface, f.Interface)
	str("hep", &cfg.hep, f.HEP)
	str("hep-key", &cfg.hepKey, f.HEPKey)
	list("hep-from", &cfg.hepFrom, f.HEPFrom)
	list("server", &cfg.servers, f.Server)
	str("enforcer", &cfg.enforcer, f.Enforcer)
	str("table", &cfg.table, f.Table)
	boolean("keep", &cfg.keep, f.Keep)
	list("allow", &cfg.scope.Allow, f.Allow)
	list("ports", &cfg.scope.Ports, f.Ports)
	boolean("all-ports", &cfg.scope.AllPorts, f.AllPorts)
	boolean("ban-local", &cfg.scope.BanLocal, f.BanLocal)
	str("state", &cfg.state, f.State)
	str("redis", &cfg.redis, f.Redis)
	str("admin", &cfg.admin, f.Admin)
	str("metrics", &cfg.metrics, f.Metrics)
	boolean("json", &cfg.json, f.JSON)
	cfg.policy = f.Policy
	return nil
}

// flagsSet names the flags given on the command line.
func flagsSet(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}
