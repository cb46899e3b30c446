package watch

import (
	"context"
	"fmt"
	"net"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Live is a capture on a network interface (AF_PACKET; needs CAP_NET_RAW).
type Live struct {
	h *pcapgo.EthernetHandle
}

// OpenLive opens a capture on the interface named iface. Packets are
// queued from then on; Run reads them. On a loopback interface, where the
// kernel shows every packet twice, only the incoming copy is kept.
func OpenLive(iface string) (*Live, error) {
	ifc, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("watch: interface %q: %w", iface, err)
	}
	h, err := pcapgo.NewEthernetHandle(iface)
	if err != nil {
		return nil, fmt.Errorf("watch: capture on %s: %w", iface, err)
	}
	if ifc.Flags&net.FlagLoopback != 0 {
		prog, err := bpf.Assemble([]bpf.Instruction{
			bpf.LoadExtension{Num: bpf.ExtType},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.PACKET_OUTGOING, SkipTrue: 1},
			bpf.RetConstant{Val: 1 << 18},
			bpf.RetConstant{Val: 0},
		})
		if err == nil {
			err = h.SetBPF(prog)
		}
		if err != nil {
			h.Close()
			return nil, fmt.Errorf("watch: capture on %s: filter: %w", iface, err)
		}
	}
	return &Live{h: h}, nil
}

// Run calls fn for every UDP or TCP packet until ctx is done (then it
// returns ctx.Err()), fn's first error, or a read error. The Packet is
// reused: fn must not keep it.
func (l *Live) Run(ctx context.Context, d *Decoder, fn func(*Packet) error) error {
	stop := context.AfterFunc(ctx, func() { l.h.Close() })
	defer stop()
	err := loop(ctx, l.h, func(int) layers.LinkType { return layers.LinkTypeEthernet }, d, fn)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// Close ends the capture.
func (l *Live) Close() error {
	l.h.Close()
	return nil
}
