package watch

import (
	"context"
	"errors"
	"io"
	"runtime"

	"github.com/sipban/sipban/sipparse"
)

// Parsed is a Packet, copied, with its first SIP message read: the parse,
// most of a Pairer's work, can run on another goroutine than the Pairer
// (Pairer.Parsed). The zero value is ready; reuse one to allocate nothing.
type Parsed struct {
	// Packet is the copy; its Payload is the Parsed's own.
	Packet Packet
	msg    sipparse.Message
	err    error  // from reading msg
	rest   []byte // a TCP segment's messages after msg, read by the Pairer
	buf    []byte
}

// Parse copies pkt, its payload too, and reads its first SIP message.
func (pp *Parsed) Parse(pkt *Packet) {
	pp.copyOf(pkt)
	pp.parse()
}

func (pp *Parsed) copyOf(pkt *Packet) {
	pp.buf = append(pp.buf[:0], pkt.Payload...)
	pp.Packet = *pkt
	pp.Packet.Payload = pp.buf
}

func (pp *Parsed) parse() {
	data := pp.Packet.Payload
	pp.err = sipparse.ParseSkip(data, &pp.msg, sipparse.ResponseAddrs)
	pp.rest = after(data, &pp.msg, pp.err, pp.Packet.Transport)
}

// after returns what follows m in data, when m was read from a TCP segment
// and left its fields usable (err nil or sipparse.ErrMalformed).
func after(data []byte, m *sipparse.Message, err error, transport string) []byte {
	if (err != nil && !errors.Is(err, sipparse.ErrMalformed)) || transport == "udp" || m.Len <= 0 || m.Len >= len(data) {
		return nil
	}
	return data[m.Len:]
}

// Batches of parsedBatch packets pass between ReadParsed's goroutines, and
// parsedBatches of them are in flight: enough to keep every stage busy
// through a slow spell of one, and about 2.5 MiB.
const (
	parsedBatch   = 256
	parsedBatches = 8
)

// batch is a run of packets and the signal that they are parsed.
type batch struct {
	pkts   []Parsed
	parsed chan struct{}
}

// ReadParsed is ReadFile with the work on several goroutines: reading and
// decoding on one, the SIP parse (Parsed.Parse) on as many as GOMAXPROCS
// (up to 4), and fn on the caller's, for every UDP or TCP packet in order.
// Give each Parsed to Pairer.Parsed; fn must not keep it. On two cores or
// more it reads a capture faster than ReadFile and Pairer.Packet (the
// package's Numbers). fn's first error stops it, fn is not called again,
// and it is returned.
func ReadParsed(r io.Reader, d *Decoder, fn func(*Parsed) error) error {
	frames, linkType, err := open(r)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	free := make(chan *batch, parsedBatches)
	for range parsedBatches {
		free <- &batch{pkts: make([]Parsed, 0, parsedBatch), parsed: make(chan struct{}, 1)}
	}
	// Each batch goes to work, for any parser, and to order, which fn
	// reads in the order the reader filled them.
	work, order := make(chan *batch, parsedBatches), make(chan *batch, parsedBatches)
	readErr := make(chan error, 1)
	go func() {
		defer close(order)
		defer close(work)
		b := <-free
		send := func() {
			work <- b
			order <- b
		}
		err := loop(ctx, frames, linkType, d, func(pkt *Packet) error {
			if len(b.pkts) == cap(b.pkts) {
				send()
				b = nil // sent: not to be sent again if cancelled
				select {
				case b = <-free:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			// The copy frees the frame's buffer for the next read.
			b.pkts = b.pkts[:len(b.pkts)+1]
			b.pkts[len(b.pkts)-1].copyOf(pkt)
			return nil
		})
		if b != nil && len(b.pkts) > 0 {
			send()
		}
		readErr <- err
	}()
	for range min(runtime.GOMAXPROCS(0), 4) {
		go func() {
			for b := range work {
				for i := range b.pkts {
					b.pkts[i].parse()
				}
				b.parsed <- struct{}{}
			}
		}()
	}
	var fnErr error
	for b := range order {
		<-b.parsed
		for i := range b.pkts {
			if fnErr == nil {
				fnErr = fn(&b.pkts[i])
			}
		}
		if fnErr != nil {
			cancel() // drain, so that the reader ends
		}
		b.pkts = b.pkts[:0]
		free <- b
	}
	if err := <-readErr; fnErr == nil {
		return err
	}
	return fnErr
}
