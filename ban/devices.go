package ban

import (
	"encoding/binary"
	"hash/maphash"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"
	"unique"

	"github.com/sipban/sipban/detect"
	"github.com/sipban/sipban/internal/shardmap"
)

// Device is one device seen at a record's address, for the customer to
// tell which of theirs to fix. A device is its +sip.instance where it sends
// one, else its source port and User-Agent.
type Device struct {
	Port      uint16   `json:"port"`
	UserAgent string   `json:"user_agent,omitempty"`
	Contact   string   `json:"contact,omitempty"`
	Instance  string   `json:"instance,omitempty"`
	Accounts  []string `json:"accounts,omitempty"`
	Failures  int      `json:"failures"`
	Successes int      `json:"successes"`
	// Refused counts the requests a guard refused unchecked: a device it
	// does not know, which is no failure of the device's.
	Refused   int       `json:"refused,omitempty"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// Suspect marks a device whose requests failed: the one to fix.
	Suspect bool `json:"suspect"`
}

const (
	siteDevices  = 64 // per address; the least recently seen makes room
	devAccounts  = 4
	deviceWindow = 24 * time.Hour // how long a device stays listed
)

// sites is the inventory of devices at the addresses where a login
// succeeded: the customers' sites. Failures elsewhere (attackers) are not
// kept here; their device is in the record's evidence. It is bounded: a
// full inventory forgets the least recently seen site, which only makes an
// explanation list fewer devices.
type sites struct {
	seed maphash.Seed
	m    *shardmap.Map[*site]
	// seen has a bit set for every address that ever had a site, so that a
	// failure elsewhere (an attacker's) costs one load, not a lock and a
	// lookup. Bits are never cleared: a stale one costs only that lookup.
	seen [1 << 14]atomic.Uint64
}

type site struct {
	last int64    // Unix seconds
	ids  []uint64 // devs[i].id, scanned without touching the devices
	devs []dev
}

// dev is one device. Lookups compare hashes, so that a login touches the
// site's own memory and not every string it names.
type dev struct {
	id, contactH             uint64 // id: of the instance, else of port and User-Agent
	accountH                 [devAccounts]uint64
	agent, contact, instance unique.Handle[string]
	accounts                 [devAccounts]unique.Handle[string]
	nacc                     uint8
	port                     uint16
	failures, successes      uint32
	refused                  uint32 // by a guard, unchecked
	first, last              int64  // Unix seconds
}

func newSites(capacity int) *sites {
	return &sites{seed: maphash.MakeSeed(), m: shardmap.New(capacity, func(s *site) int64 { return s.last })}
}

// seenBit is where's bit in seen: a multiplicative hash, cheaper than the
// key's; an attacker who makes addresses collide there costs only lookups.
func (s *sites) seenBit(where netip.Addr) (*atomic.Uint64, uint64) {
	b := where.As16()
	h := (binary.LittleEndian.Uint64(b[:8])*0x9e3779b97f4a7c15 ^ binary.LittleEndian.Uint64(b[8:])) * 0xbf58476d1ce4e5b9
	return &s.seen[h>>50], 1 << (h >> 44 & 63)
}

func (s *sites) key(where netip.Addr) uint64 { return addrHash(s.seed, where) }

// addrHash is where's key in a map of addresses seeded with seed.
func addrHash(seed maphash.Seed, where netip.Addr) uint64 {
	b := where.As16()
	return maphash.Bytes(seed, b[:])
}

// note records ev from where: ok for a login that earns trust, else a
// failure, kept only where a login succeeded before.
func (s *sites) note(where netip.Addr, ev *detect.Event, ok bool) {
	word, bit := s.seenBit(where)
	if !ok && word.Load()&bit == 0 {
		return
	}
	k := s.key(where)
	sh := s.m.Shard(k)
	sh.Lock()
	defer sh.Unlock()
	st, found := sh.Get(k)
	if !found {
		if !ok {
			return
		}
		st = &site{}
		sh.Put(k, st)
		word.Or(bit)
	}
	now := ev.Time.Unix()
	st.last = now
	d := st.device(s.seed, ev, now)
	d.last = now
	switch {
	case ok:
		d.successes++
	case ev.Guarded:
		d.refused++
	default:
		d.failures++
	}
	if c := clip(ev.Contact, maxAgent); c != "" {
		if h := maphash.String(s.seed, c); h != d.contactH {
			d.contactH, d.contact = h, unique.Make(c)
		}
	}
	if ev.Account != "" {
		d.addAccount(s.seed, clip(ev.Account, maxName))
	}
}

// device finds ev's device at st, or makes room for it.
func (st *site) device(seed maphash.Seed, ev *detect.Event, now int64) *dev {
	port := ev.Source.Port()
	agent := clip(ev.UserAgent, maxAgent)
	// Without an instance, a device is its port and User-Agent. Hashed
	// with maphash.String and Bytes: a maphash.Hash's buffer, or
	// maphash.Comparable's frames, would grow the stack of every
	// request's fresh goroutine (2% of a registrar's CPU).
	var id uint64
	if ev.Instance != "" {
		id = maphash.String(seed, ev.Instance)
	} else {
		var b [10]byte
		binary.LittleEndian.PutUint64(b[:], maphash.String(seed, agent))
		binary.LittleEndian.PutUint16(b[8:], port)
		id = maphash.Bytes(seed, b[:])
	}
	for i, x := range st.ids {
		if x == id {
			d := &st.devs[i]
			d.port = port // an instance keeps its identity as its port changes
			return d
		}
	}
	nd := dev{id: id, port: port, agent: unique.Make(agent), first: now}
	if ev.Instance != "" {
		nd.instance = intern(ev.Instance, maxAgent)
	}
	if len(st.devs) < siteDevices {
		st.ids = append(st.ids, id)
		st.devs = append(st.devs, nd)
		return &st.devs[len(st.devs)-1]
	}
	old := 0
	for i := range st.devs {
		if st.devs[i].last < st.devs[old].last {
			old = i
		}
	}
	st.ids[old], st.devs[old] = id, nd
	return &st.devs[old]
}

func (d *dev) addAccount(seed maphash.Seed, a string) {
	h := maphash.String(seed, a)
	for _, b := range d.accountH[:d.nacc] {
		if h == b {
			return
		}
	}
	if d.nacc < devAccounts {
		d.accountH[d.nacc], d.accounts[d.nacc] = h, unique.Make(a)
		d.nacc++
	}
}

// list returns the devices seen at where since since, most recent first.
func (s *sites) list(where netip.Addr, since time.Time) []Device {
	k := s.key(where)
	sh := s.m.Shard(k)
	sh.Lock()
	defer sh.Unlock()
	st, ok := sh.Get(k)
	if !ok {
		return nil
	}
	var out []Device
	for _, d := range st.devs {
		if d.last < since.Unix() {
			continue
		}
		x := Device{
			Port: d.port, UserAgent: d.agent.Value(), Failures: int(d.failures), Successes: int(d.successes), Refused: int(d.refused),
			FirstSeen: time.Unix(d.first, 0).UTC(), LastSeen: time.Unix(d.last, 0).UTC(), Suspect: d.failures > 0,
		}
		if d.contact != (unique.Handle[string]{}) {
			x.Contact = d.contact.Value()
		}
		if d.instance != (unique.Handle[string]{}) {
			x.Instance = d.instance.Value()
		}
		for _, a := range d.accounts[:d.nacc] {
			x.Accounts = append(x.Accounts, a.Value())
		}
		out = append(out, x)
	}
	slices.SortStableFunc(out, func(a, b Device) int { return b.LastSeen.Compare(a.LastSeen) })
	return out
}

// devicesOf lists the devices at r's address, with the one its evidence
// names added as the suspect when the inventory does not hold it (an
// address where nothing logged in).
func (g *Guard) devicesOf(r *Record) []Device {
	if !r.Subject.Prefix.IsValid() {
		return nil
	}
	now := g.now()
	ds := g.sites.list(r.Subject.Prefix.Addr(), now.Add(-deviceWindow))
	ev := &r.Evidence
	agent := ""
	if len(ev.UserAgents) > 0 {
		agent = ev.UserAgents[0]
	}
	var port uint16
	if len(ev.Ports) > 0 {
		port = ev.Ports[len(ev.Ports)-1]
	}
	for i := range ds {
		if ds[i].Port == port && ds[i].UserAgent == agent {
			ds[i].Suspect = true
			return ds
		}
	}
	if len(ev.Ports) == 0 && agent == "" {
		return ds
	}
	return append(ds, Device{
		Port: port, UserAgent: agent, Accounts: slices.Clone(ev.Accounts), Failures: ev.Count,
		FirstSeen: ev.First, LastSeen: ev.Last, Suspect: true,
	})
}
