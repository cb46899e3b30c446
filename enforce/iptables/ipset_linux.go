package iptables

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"time"

	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// This file speaks ipset's netlink protocol with vishvananda/netlink's nl
// package (requests over one long-lived socket) rather than its Ipset*
// functions, because those carry one element per message (a batch of
// 100,000 takes six to eight times as long), drop a CIDR of 0 (so /0 silently
// becomes /32), panic on an error that is not an errno, and log attributes
// they do not know, such as those of sets created by the ipset tool.
//
// Values are from include/uapi/linux/netfilter/ipset/ip_set.h.
const (
	ipsetProtocol = 6 // the oldest the kernel accepts; ipset 7 speaks it too

	cmdCreate  = 2
	cmdDestroy = 3
	cmdSwap    = 6
	cmdList    = 7
	cmdAdd     = 9
	cmdDel     = 10

	// Command-level attributes.
	attrProtocol = 1
	attrSetname  = 2
	attrTypename = 3
	attrSetname2 = 3
	attrRevision = 4
	attrFamily   = 5
	attrFlags    = 6
	attrData     = 7
	attrADT      = 8
	attrLineno   = 9

	// Data attributes.
	attrIP      = 1
	attrCIDR    = 3
	attrTimeout = 6
	attrMaxelem = 19

	attrIPv4 = 1
	attrIPv6 = 2

	flagListHeader = 1 << 2 // IPSET_FLAG_LIST_HEADER: list without elements

	nlaNested    = 1 << 15
	nlaNetOrder  = 1 << 14
	nlaTypeMask  = ^uint16(nlaNested | nlaNetOrder)
	setType      = "hash:net"
	typeRevision = 0 // every hash:net revision has per-element timeouts
)

// ipset's own error numbers, which syscall.Errno prints as "errno 4103".
const (
	errProtocol     syscall.Errno = 4097
	errFindType     syscall.Errno = 4098
	errTypeMismatch syscall.Errno = 4102
	errExist        syscall.Errno = 4103 // on del: the element is not in the set
	errInvalidCIDR  syscall.Errno = 4104
	errInvalidFam   syscall.Errno = 4106
	errReferenced   syscall.Errno = 4108
	errHashFull     syscall.Errno = 4352
)

var errText = map[syscall.Errno]string{
	errProtocol:     "ipset protocol error",
	errFindType:     "kernel lacks the set type (ip_set_hash_net)",
	errTypeMismatch: "set types differ",
	errExist:        "element or set exists (or, on delete, does not)",
	errInvalidCIDR:  "invalid prefix length",
	errInvalidFam:   "wrong address family for the set",
	errReferenced:   "set is in use by a rule",
	errHashFull:     "set is full",
}

// kerr gives ipset's errors a readable text, keeping the errno for errors.Is.
func kerr(err error) error {
	var en syscall.Errno
	if errors.As(err, &en) {
		if s, ok := errText[en]; ok {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return err
}

// ipsetConn is a netlink socket for ipset requests. It is not safe for
// concurrent use: the Enforcer's mutex guards it.
type ipsetConn struct {
	sock map[int]*nl.SocketHandle
	buf  msg // reused by adt
}

func dialIpset() (*ipsetConn, error) {
	s, err := nl.GetNetlinkSocketAt(netns.None(), netns.None(), unix.NETLINK_NETFILTER)
	if err != nil {
		return nil, err
	}
	// A kernel ipset request never blocks; these only bound a hang.
	tv := unix.NsecToTimeval(int64(30 * time.Second))
	if err := errors.Join(s.SetSendTimeout(&tv), s.SetReceiveTimeout(&tv)); err != nil {
		s.Close()
		return nil, err
	}
	return &ipsetConn{sock: map[int]*nl.SocketHandle{unix.NETLINK_NETFILTER: {Socket: s}}}, nil
}

func (c *ipsetConn) close() { c.sock[unix.NETLINK_NETFILTER].Close() }

// msg builds the attributes of a request.
type msg []byte

func (m *msg) attr(typ uint16, v []byte) {
	var h [4]byte
	binary.NativeEndian.PutUint16(h[:], uint16(4+len(v)))
	binary.NativeEndian.PutUint16(h[2:], typ)
	*m = append(append(*m, h[:]...), v...)
	for len(*m)%4 != 0 {
		*m = append(*m, 0)
	}
}

func (m *msg) str(typ uint16, s string) { m.attr(typ, append([]byte(s), 0)) }
func (m *msg) u8(typ uint16, v uint8)   { m.attr(typ, []byte{v}) }
func (m *msg) be32(typ uint16, v uint32) {
	m.attr(typ|nlaNetOrder, binary.BigEndian.AppendUint32(nil, v))
}

// begin opens a nested attribute; end closes it.
func (m *msg) begin(typ uint16) int {
	off := len(*m)
	m.attr(typ|nlaNested, nil)
	return off
}

func (m *msg) end(off int) { binary.NativeEndian.PutUint16((*m)[off:], uint16(len(*m)-off)) }

// elem appends one element: an IPSET_ATTR_DATA holding the prefix and, if
// timeout > 0, its timeout.
func (m *msg) elem(p netip.Prefix, timeout uint32) {
	d := m.begin(attrData)
	ip := m.begin(attrIP)
	if p.Addr().Is4() {
		a := p.Addr().As4()
		m.attr(attrIPv4|nlaNetOrder, a[:])
	} else {
		a := p.Addr().As16()
		m.attr(attrIPv6|nlaNetOrder, a[:])
	}
	m.end(ip)
	m.u8(attrCIDR, uint8(p.Bits()))
	if timeout > 0 {
		m.be32(attrTimeout, timeout)
	}
	m.end(d)
}

func newMsg(set string) msg {
	// nfgenmsg: family, version, resource id.
	m := msg{unix.AF_INET, 0, 0, 0}
	m.u8(attrProtocol, ipsetProtocol)
	m.str(attrSetname, set)
	return m
}

func (c *ipsetConn) do(cmd int, flags uint16, m msg, each func([]byte)) error {
	req := &nl.NetlinkRequest{
		NlMsghdr: unix.NlMsghdr{
			Type:  uint16(unix.NFNL_SUBSYS_IPSET<<8 | cmd),
			Flags: unix.NLM_F_REQUEST | unix.NLM_F_ACK | flags,
		},
		RawData: m,
		Sockets: c.sock,
	}
	return req.ExecuteIter(unix.NETLINK_NETFILTER, 0, func(b []byte) bool {
		if each != nil {
			each(b)
		}
		return true
	})
}

// create makes a hash:net set with timeouts; it fails with EEXIST if a set
// by that name exists, whatever its type.
func (c *ipsetConn) create(set string, v6 bool, maxElem uint32) error {
	m := newMsg(set)
	m.str(attrTypename, setType)
	m.u8(attrRevision, typeRevision)
	fam := uint8(unix.NFPROTO_IPV4)
	if v6 {
		fam = unix.NFPROTO_IPV6
	}
	m.u8(attrFamily, fam)
	d := m.begin(attrData)
	// A set-wide timeout, even 0 ("forever" for elements added without
	// one), is what gives elements timeouts of their own.
	m.be32(attrTimeout, 0)
	m.be32(attrMaxelem, maxElem)
	m.end(d)
	return c.do(cmdCreate, unix.NLM_F_CREATE|unix.NLM_F_EXCL, m, nil)
}

func (c *ipsetConn) destroy(set string) error {
	return c.do(cmdDestroy, 0, newMsg(set), nil)
}

// swap exchanges the contents and names of two sets; rules that match one
// by name now match the other's contents.
func (c *ipsetConn) swap(a, b string) error {
	m := newMsg(a)
	m.str(attrSetname2, b)
	return c.do(cmdSwap, 0, m, nil)
}

// header is what New checks of an existing set.
type header struct {
	typ        string
	family     uint8
	maxElem    uint32
	hasTimeout bool
}

// entry is one element of a set; timeout 0 means it has none (permanent).
type entry struct {
	p       netip.Prefix
	timeout uint32
}

// list dumps a set: its header and, unless headerOnly, its elements.
func (c *ipsetConn) list(set string, headerOnly bool) (header, []entry, error) {
	m := newMsg(set)
	if headerOnly {
		m.be32(attrFlags, flagListHeader)
	}
	var (
		h  header
		es []entry
	)
	err := c.do(cmdList, unix.NLM_F_DUMP, m, func(b []byte) {
		if len(b) < 4 {
			return
		}
		attrs(b[4:], func(typ uint16, v []byte) {
			switch typ {
			case attrTypename:
				h.typ = cstring(v)
			case attrFamily:
				if len(v) > 0 {
					h.family = v[0]
				}
			case attrData:
				attrs(v, func(typ uint16, v []byte) {
					switch typ {
					case attrMaxelem:
						h.maxElem = be32(v)
					case attrTimeout:
						h.hasTimeout = true
					}
				})
			case attrADT:
				attrs(v, func(typ uint16, v []byte) {
					if typ == attrData {
						if e, ok := parseEntry(v); ok {
							es = append(es, e)
						}
					}
				})
			}
		})
	})
	return h, es, err
}

func parseEntry(b []byte) (entry, bool) {
	var (
		e    entry
		addr netip.Addr
		bits = -1
	)
	attrs(b, func(typ uint16, v []byte) {
		switch typ {
		case attrIP:
			attrs(v, func(typ uint16, v []byte) {
				if typ == attrIPv4 || typ == attrIPv6 {
					addr, _ = netip.AddrFromSlice(v)
				}
			})
		case attrCIDR:
			if len(v) > 0 {
				bits = int(v[0])
			}
		case attrTimeout:
			e.timeout = be32(v)
		}
	})
	if bits < 0 {
		bits = addr.BitLen()
	}
	e.p = netip.PrefixFrom(addr, bits)
	return e, e.p.IsValid()
}

// adt adds or deletes elements in one message, each with its timeout (for
// an add; 0 adds without one, which a set of ours makes permanent). Without
// NLM_F_EXCL the kernel treats the message as ipset's -exist: an add of an
// element present replaces its timeout, and a delete of one absent
// (IPSET_ERR_EXIST, and only that) is skipped. Any other error stops the
// message there, the elements before it made.
func (c *ipsetConn) adt(cmd int, set string, es []entry) error {
	m := append(c.buf[:0], newMsg(set)...)
	defer func() { c.buf = m[:0] }()
	// A message of several elements needs a line number, though we do
	// not ask the kernel which element failed.
	m.be32(attrLineno, 0)
	adt := m.begin(attrADT)
	for _, e := range es {
		m.elem(e.p, e.timeout)
	}
	m.end(adt)
	return c.do(cmd, 0, m, nil)
}

// elemSize is the most an element takes in a message (IPv6 with a
// timeout). The kernel echoes a failed request in its error, which must fit
// the library's 64 KiB receive buffer: batchSize elements make 45 KiB.
const (
	elemSize  = 44
	batchSize = 1024
)

// attrs calls f for each attribute in b, with the type's flags cleared.
func attrs(b []byte, f func(typ uint16, v []byte)) {
	for len(b) >= 4 {
		n := int(binary.NativeEndian.Uint16(b))
		if n < 4 || n > len(b) {
			return
		}
		f(binary.NativeEndian.Uint16(b[2:])&nlaTypeMask, b[4:n])
		b = b[min((n+3)&^3, len(b)):]
	}
}

func be32(v []byte) uint32 {
	if len(v) < 4 {
		return 0
	}
	return binary.BigEndian.Uint32(v)
}

func cstring(v []byte) string {
	for i, c := range v {
		if c == 0 {
			return string(v[:i])
		}
	}
	return string(v)
}
