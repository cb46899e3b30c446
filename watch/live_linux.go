package watch

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Live is a capture on a network interface (AF_PACKET; needs CAP_NET_RAW).
type Live struct {
	h *pcapgo.EthernetHandle
	// unfiltered bounds the frames queued before the filter was attached,
	// which it never saw: Run discards that many first.
	unfiltered uint32
}

// OpenLive opens a capture on the interface named iface. Packets are
// queued from then on; Run reads them. On a loopback interface, where the
// kernel shows every packet twice, only the incoming copy is kept. On any
// other, an incoming packet whose source is one of this host's addresses is
// dropped: the kernel drops it too (a martian source), and a forged answer
// "from" the server would otherwise pair with a forged request and prove
// it. The addresses are read once, here. Frames that arrived while the
// capture was being set up, before its filter, are discarded.
func OpenLive(iface string) (*Live, error) {
	ifc, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("watch: interface %q: %w", iface, err)
	}
	var prog []bpf.Instruction
	if ifc.Flags&net.FlagLoopback != 0 {
		prog = []bpf.Instruction{
			bpf.LoadExtension{Num: bpf.ExtType},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.PACKET_OUTGOING, SkipTrue: 1},
			bpf.RetConstant{Val: snapLen},
			bpf.RetConstant{Val: 0},
		}
	} else {
		addrs, err := net.InterfaceAddrs()
		if err != nil {
			return nil, fmt.Errorf("watch: this host's addresses: %w", err)
		}
		var local []netip.Addr
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				local = append(local, p.Addr().Unmap())
			}
		}
		if prog, err = spoofFilter(local); err != nil {
			return nil, fmt.Errorf("watch: capture on %s: %w", iface, err)
		}
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("watch: capture on %s: filter: %w", iface, err)
	}
	h, err := pcapgo.NewEthernetHandle(iface)
	if err != nil {
		return nil, fmt.Errorf("watch: capture on %s: %w", iface, err)
	}
	// The socket queues frames from its bind on; the filter comes after.
	// The kernel's count of frames queued since (its packets less its
	// drops), read once the filter is on, bounds those it never saw: a
	// forged answer among them would be kept. Discarding them costs
	// microseconds of traffic.
	err = h.SetBPF(raw)
	var st *unix.TpacketStats
	if err == nil {
		settle()
		st, err = h.Stats()
	}
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("watch: capture on %s: filter: %w", iface, err)
	}
	return &Live{h: h, unfiltered: st.Packets - st.Drops}, nil
}

// settle waits for the frames in flight when the filter was attached to be
// queued: a frame the kernel began receiving before it, unfiltered, is
// counted only once queued. The kernel receives under RCU, so one grace
// period (membarrier's global barrier) is enough; where that is refused,
// a millisecond is far longer than a frame's delivery.
func settle() {
	const membarrierCmdGlobal = 1
	if _, _, e := unix.Syscall(unix.SYS_MEMBARRIER, membarrierCmdGlobal, 0, 0); e != 0 {
		time.Sleep(time.Millisecond)
	}
}

// snapLen is what a kept packet's filter returns: more than any frame.
const snapLen = 1 << 18

// spoofFilter returns a socket filter for Ethernet frames that keeps every
// outgoing frame and drops an incoming IPv4 or IPv6 one whose source is in
// local. Each address's test ends in its own return, so no jump grows with
// the list.
func spoofFilter(local []netip.Addr) ([]bpf.Instruction, error) {
	var v4, v6 []bpf.Instruction
	for _, a := range local {
		if a.Is4() {
			b := a.As4()
			v4 = append(v4,
				bpf.JumpIf{Cond: bpf.JumpEqual, Val: binary.BigEndian.Uint32(b[:]), SkipFalse: 1},
				bpf.RetConstant{Val: 0})
			continue
		}
		b := a.As16()
		for w := range 4 {
			// Words 0-2 differing skip the rest of this address's test.
			skip := uint8(2*(3-w) + 1)
			v6 = append(v6, bpf.LoadAbsolute{Off: uint32(22 + 4*w), Size: 4},
				bpf.JumpIf{Cond: bpf.JumpEqual, Val: binary.BigEndian.Uint32(b[4*w:]), SkipFalse: skip})
		}
		v6 = append(v6, bpf.RetConstant{Val: 0})
	}
	prog := []bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.PACKET_OUTGOING, SkipFalse: 1},
		bpf.RetConstant{Val: snapLen},
		bpf.LoadAbsolute{Off: 12, Size: 2}, // EtherType
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x0800, SkipTrue: 1},
		bpf.Jump{Skip: uint32(len(v4) + 2)},
		bpf.LoadAbsolute{Off: 26, Size: 4}, // IPv4 source
	}
	prog = append(prog, v4...)
	prog = append(prog, bpf.RetConstant{Val: snapLen},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x86dd, SkipTrue: 1},
		bpf.Jump{Skip: uint32(len(v6))})
	prog = append(prog, v6...)
	prog = append(prog, bpf.RetConstant{Val: snapLen})
	if len(prog) > maxFilter {
		return nil, fmt.Errorf("%d local addresses are too many to filter forged answers (%d instructions, the kernel takes %d)", len(local), len(prog), maxFilter)
	}
	return prog, nil
}

// maxFilter is the kernel's limit on a socket filter (BPF_MAXINSNS).
const maxFilter = 4096

// Run calls fn for every UDP or TCP packet until ctx is done (then it
// returns ctx.Err()), fn's first error, or a read error. The Packet is
// reused: fn must not keep it.
func (l *Live) Run(ctx context.Context, d *Decoder, fn func(*Packet) error) error {
	stop := context.AfterFunc(ctx, func() { l.h.Close() })
	defer stop()
	err := loop(ctx, (*filtered)(l), func(int) layers.LinkType { return layers.LinkTypeEthernet }, d, fn)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// filtered reads the frames the filter kept.
type filtered Live

func (l *filtered) ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	for ; l.unfiltered > 0; l.unfiltered-- {
		if _, _, err := l.h.ZeroCopyReadPacketData(); err != nil {
			return nil, gopacket.CaptureInfo{}, err
		}
	}
	return l.h.ZeroCopyReadPacketData()
}

// Close ends the capture.
func (l *Live) Close() error {
	l.h.Close()
	return nil
}
