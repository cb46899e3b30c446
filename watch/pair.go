package watch

import (
	"errors"
	"fmt"
	"hash/maphash"
	"net/netip"
	"strconv"
	"time"
	"unsafe"

	"github.com/sipban/sipban/detect"
	"github.com/sipban/sipban/sipparse"
)

// Options configure a Pairer. The zero value is usable.
type Options struct {
	// Server reports whether an address is the watched server's: requests
	// sent to it and responses sent from it are paired. Nil means any
	// address on port 5060 or 5061.
	Server func(netip.AddrPort) bool
	// Timeout is how long a request waits for a final response before it is
	// reported unanswered (Status 0). Zero means 32 s, SIP's transaction
	// timeout (64 × T1).
	Timeout time.Duration
	// MaxPending bounds the requests waiting for a response; when full,
	// the oldest is dropped and counted in Stats.Evicted. Zero means 65,536.
	MaxPending int
	// NonceWindow is how long after the server sent a nonce in a 401 or
	// 407 challenge that nonce proves the requests presenting it from the
	// IP it was sent to (Event.Proven). Zero means 5 minutes, as
	// sipauth.DefaultLifetime.
	NonceWindow time.Duration
	// MaxNonces bounds the nonces remembered, rounded up to a multiple of
	// 8; the table takes 40 bytes per nonce. When the 8 entries a nonce
	// hashes to are taken, the oldest is forgotten (counted in
	// Stats.NoncesEvicted if still within NonceWindow), and requests that
	// present it are no longer proven. Zero means 65,536 (2.5 MiB).
	MaxNonces int
}

// Stats counts what a Pairer has seen.
type Stats struct {
	Messages   int // SIP messages read
	Paired     int // requests matched with their final response
	Unanswered int // requests reported with no final response
	Evicted    int // requests dropped because MaxPending were waiting
	Retransmit int // copies of a request already waiting (the first counts)
	Unmatched  int // final responses to no request seen
	Malformed  int // datagrams to the server that are not readable SIP
	Ignored    int // other traffic: requests from the server, provisional responses, ACKs, keep-alives

	Proven        int // events emitted with Proven set
	Nonces        int // 401 and 407 challenges whose nonce was remembered
	NoncesEvicted int // nonces forgotten within NonceWindow to make room (see MaxNonces)
}

// Pairer turns the packets of a SIP server's traffic into detect.Events: a
// request to the server and the server's final response to it (matched by
// Call-ID, CSeq and top Via branch, sent back to the request's source IP)
// make one Event, timed at the response. Memory is bounded by
// Options.MaxPending and Options.MaxNonces. A Pairer is not safe for
// concurrent use; it allocates nothing per message once warm.
//
// An Event is Proven (the sender showed it receives the server's answers)
// when the request's Authorization or Proxy-Authorization carried a nonce
// the server sent, in a 401 or 407 challenge, to the request's source IP
// and to no other within Options.NonceWindow: a forger off the path never
// sees the challenges sent to the address it forges. A TCP request is
// Proven when the server answered it over TCP: only an established
// connection gets an answer, while a forged segment is still captured (and
// then goes unanswered).
//
// The Events it emits alias its own buffers: valid during the emit call,
// which is what detect.Event allows (a ban.Guard copies what it keeps).
type Pairer struct {
	server  func(netip.AddrPort) bool
	timeout time.Duration
	seed    maphash.Seed

	index map[uint64]uint32 // key → position in ring
	ring  []slot
	head  int // oldest slot
	n     int // slots in use, live or answered

	nonces nonces // the nonces the server sent, per client IP

	pp    Parsed           // Packet's
	msg   sipparse.Message // a segment's later messages
	ev    detect.Event
	stats Stats
}

// slot holds what an Event needs of a request, copied into a fixed buffer.
type slot struct {
	key    uint64
	t      time.Time
	src    netip.AddrPort
	tcp    bool
	creds  bool
	proven bool // by a nonce the server sent to src's IP
	live   bool
	// Fields, in order: method, account, target, user agent, Call-ID,
	// contact, instance; each cut to fieldMax, packed from the start of
	// buf so that a request writes the few cache lines it needs: the ring
	// is far larger than the caches, and its slots are cold.
	lens [nfields]uint8
	buf  [slotBytes]byte
}

const (
	nfields   = 7
	fieldMax  = 64
	slotBytes = nfields * fieldMax
)

// NewPairer returns a Pairer, or an error for invalid options.
func NewPairer(opts Options) (*Pairer, error) {
	switch {
	case opts.Timeout < 0:
		return nil, fmt.Errorf("watch: negative timeout %v", opts.Timeout)
	case opts.MaxPending < 0:
		return nil, fmt.Errorf("watch: negative MaxPending %d", opts.MaxPending)
	case opts.NonceWindow < 0:
		return nil, fmt.Errorf("watch: negative NonceWindow %v", opts.NonceWindow)
	case opts.MaxNonces < 0:
		return nil, fmt.Errorf("watch: negative MaxNonces %d", opts.MaxNonces)
	}
	p := &Pairer{server: opts.Server, timeout: opts.Timeout, seed: maphash.MakeSeed()}
	if p.server == nil {
		p.server = func(a netip.AddrPort) bool { return a.Port() == 5060 || a.Port() == 5061 }
	}
	if p.timeout == 0 {
		p.timeout = 32 * time.Second
	}
	size := opts.MaxPending
	if size == 0 {
		size = 1 << 16
	}
	p.ring = make([]slot, size)
	// The index grows to the most requests pending at once, at most size:
	// sized for size up front, every lookup would miss the CPU's caches.
	p.index = make(map[uint64]uint32)
	window, nonces := opts.NonceWindow, opts.MaxNonces
	if window == 0 {
		window = 5 * time.Minute
	}
	if nonces == 0 {
		nonces = 1 << 16
	}
	p.nonces = newNonces(nonces, window)
	return p, nil
}

// Stats returns the counts so far.
func (p *Pairer) Stats() Stats { return p.stats }

// Packet reads the SIP messages in pkt (one per datagram, or those a TCP
// segment holds whole) and calls emit for each transaction it completes or
// gives up on. Time comes from the packets: requests older than the timeout
// at pkt.Time are reported unanswered first.
func (p *Pairer) Packet(pkt *Packet, emit func(*detect.Event)) {
	toServer, fromServer, ok := p.ends(pkt, emit)
	if !ok {
		return
	}
	p.pp.Packet = *pkt
	p.pp.parse()
	p.pair(&p.pp, toServer, fromServer, emit)
}

// Parsed is Packet for a packet whose first message was read already, by
// Parsed.Parse, on another goroutine: the parse is most of a Pairer's work.
func (p *Pairer) Parsed(pp *Parsed, emit func(*detect.Event)) {
	if toServer, fromServer, ok := p.ends(&pp.Packet, emit); ok {
		p.pair(pp, toServer, fromServer, emit)
	}
}

// ends expires what timed out by pkt's time and reports which end of pkt
// is the server; ok is false for a packet neither to nor from it.
func (p *Pairer) ends(pkt *Packet, emit func(*detect.Event)) (toServer, fromServer, ok bool) {
	p.Expire(pkt.Time, emit)
	toServer, fromServer = p.server(pkt.Dst), p.server(pkt.Src)
	if !toServer && !fromServer {
		p.stats.Ignored++
		return false, false, false
	}
	return toServer, fromServer, len(pkt.Payload) > 0
}

func (p *Pairer) pair(pp *Parsed, toServer, fromServer bool, emit func(*detect.Event)) {
	pkt := &pp.Packet
	m, err, rest := &pp.msg, pp.err, pp.rest
	for {
		switch {
		case err == nil:
		case errors.Is(err, sipparse.ErrKeepAlive):
			p.stats.Ignored++
			return
		case !errors.Is(err, sipparse.ErrMalformed):
			// A malformed field leaves the others usable; anything
			// else leaves nothing to pair. A TCP segment may start or
			// end mid-message: only a datagram is a whole message.
			if pkt.Transport == "udp" && toServer {
				p.stats.Malformed++
				p.ev = detect.Event{Time: pkt.Time, Source: pkt.Src, Transport: pkt.Transport, Malformed: err.Error()}
				emit(&p.ev)
			} else {
				p.stats.Ignored++
			}
			return
		}
		p.stats.Messages++
		p.message(m, pkt, toServer, fromServer, emit)
		if len(rest) == 0 {
			return
		}
		// The segment's later messages are read here, into the
		// Pairer's own Message: a Parsed holds one.
		m = &p.msg
		err = sipparse.ParseSkip(rest, m, sipparse.ResponseAddrs)
		rest = after(rest, m, err, pkt.Transport)
	}
}

func (p *Pairer) message(m *sipparse.Message, pkt *Packet, toServer, fromServer bool, emit func(*detect.Event)) {
	switch {
	case m.Request && toServer && string(m.Method) != "ACK":
		p.request(m, pkt)
	case !m.Request && fromServer && m.Status >= 200:
		p.response(m, pkt, emit)
	default:
		p.stats.Ignored++
	}
}

// key identifies a transaction between the server and client, the IP the
// request came from and the response goes to: a response pairs only with a
// request from where it is sent, so that a forged datagram cannot take the
// answer to someone else's request.
func (p *Pairer) key(m *sipparse.Message, client netip.Addr) uint64 {
	var h maphash.Hash
	h.SetSeed(p.seed)
	ip := client.Unmap().As16()
	h.Write(ip[:])
	h.Write(m.CallID)
	h.WriteByte(0)
	var n [10]byte
	h.Write(strconv.AppendUint(n[:0], uint64(m.CSeq), 10))
	h.Write(m.CSeqMethod)
	h.WriteByte(0)
	h.Write(m.Via.Branch)
	return h.Sum64()
}

func (p *Pairer) request(m *sipparse.Message, pkt *Packet) {
	k := p.key(m, pkt.Src.Addr())
	if _, ok := p.index[k]; ok {
		p.stats.Retransmit++ // the first copy stands
		return
	}
	if p.n == len(p.ring) {
		p.evict()
	}
	i := (p.head + p.n) % len(p.ring)
	p.n++
	s := &p.ring[i]
	account := m.Auth.Username
	switch {
	case len(account) > 0:
	case string(m.Method) == "REGISTER":
		account = m.To.URI.User
	default:
		account = m.From.URI.User
	}
	// Field by field, every one of them: a slot literal would clear all
	// of buf, most of which the request does not use.
	s.key, s.t, s.src, s.tcp, s.creds, s.live = k, pkt.Time, pkt.Src, pkt.Transport == "tcp", m.Auth.Present, true
	s.proven = m.Auth.Nonce != nil && p.nonces.issued(nonceKey(p.seed, m.Auth.Nonce), pkt.Src.Addr(), pkt.Time)
	at := 0
	for f, v := range [nfields][]byte{m.Method, account, m.RequestURI.User, m.UserAgent, m.CallID, m.Contact.URI.Raw, m.Contact.Instance} {
		n := copy(s.buf[at:at+fieldMax], v)
		s.lens[f] = uint8(n)
		at += n
	}
	p.index[k] = uint32(i)
}

func (p *Pairer) response(m *sipparse.Message, pkt *Packet, emit func(*detect.Event)) {
	if c := m.Challenge.Nonce; c != nil && (m.Status == 401 || m.Status == 407) {
		p.stats.Nonces++
		if p.nonces.issue(nonceKey(p.seed, c), pkt.Dst.Addr(), pkt.Time) {
			p.stats.NoncesEvicted++
		}
	}
	k := p.key(m, pkt.Dst.Addr())
	i, ok := p.index[k]
	if !ok {
		p.stats.Unmatched++
		return
	}
	delete(p.index, k)
	s := &p.ring[i]
	s.live = false
	p.stats.Paired++
	p.emit(s, pkt.Time, m.Status, s.tcp && pkt.Transport == "tcp", emit)
	p.popDead()
}

// Expire reports every request older than the timeout at now as
// unanswered. Packet calls it; call it at the end of a capture with a time
// past the last packet to report what is still waiting.
func (p *Pairer) Expire(now time.Time, emit func(*detect.Event)) {
	for p.n > 0 {
		s := &p.ring[p.head]
		if s.live {
			if now.Sub(s.t) < p.timeout {
				return
			}
			delete(p.index, s.key)
			s.live = false
			p.stats.Unanswered++
			p.emit(s, s.t.Add(p.timeout), 0, false, emit)
		}
		p.pop()
	}
}

func (p *Pairer) evict() {
	if s := &p.ring[p.head]; s.live {
		delete(p.index, s.key)
		p.stats.Evicted++
	}
	p.pop()
}

func (p *Pairer) pop() {
	p.head = (p.head + 1) % len(p.ring)
	p.n--
}

func (p *Pairer) popDead() {
	for p.n > 0 && !p.ring[p.head].live {
		p.pop()
	}
}

// emit reports the transaction of s, answered with status at t (0: none),
// proven by s's nonce or, with conn, by an answer on its connection.
func (p *Pairer) emit(s *slot, t time.Time, status int, conn bool, emit func(*detect.Event)) {
	var f [nfields]string
	at := 0
	for i := range f {
		if n := int(s.lens[i]); n > 0 {
			f[i] = unsafe.String(&s.buf[at], n)
			at += n
		}
	}
	transport := "udp"
	if s.tcp {
		transport = "tcp"
	}
	proven := s.proven || conn
	if proven {
		p.stats.Proven++
	}
	p.ev = detect.Event{Time: t, Source: s.src, Transport: transport, Method: f[0], Status: status,
		Account: f[1], Credentials: s.creds, Proven: proven, Target: f[2], UserAgent: f[3], CallID: f[4], Contact: f[5], Instance: f[6]}
	emit(&p.ev)
}
