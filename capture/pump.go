package capture

import "io"

// A Sink takes packets that are decoded where it will keep them
// (flows.Sharded): Slot gives the packet to decode the next one into, Add
// takes it (and may be given another packet, which it copies).
type Sink interface {
	Slot() *Packet
	Add(p *Packet)
}

// A Pumper reads packets straight into a Sink, many a call: Follow's
// Source over regular files.
//
// Why: reading a big file, a packet went through four calls and their
// checks before it reached the flow table (the read loop's, an interface
// call to Follow's Next, the file's Next, the Sink's Add through another
// interface), each with tests that cannot change from one packet to the
// next (a stop asked for, a packet count, -w, a peer capture). Those
// were about 100 instructions a packet, on the goroutine that every
// other one waits for; Pump's loop has the two calls that must be made.
type Pumper interface {
	// Pump reads up to max packets into sink and gives how many it
	// read, with the error that stopped it before max (io.EOF at the
	// end of input, as Next's).
	Pump(sink Sink, max int) (int, error)
}

// Pump implements Pumper. A stop (Follow's) is looked at once a call, so
// that it ends the input within max packets; the progress line ticks
// every packet, as with Next.
func (f *followFile) Pump(sink Sink, max int) (int, error) {
	if f.stopped.Load() {
		return 0, io.EOF
	}
	fs, pr := f.fs, f.prog
	if fs == nil {
		for n := 0; n < max; n++ {
			p := sink.Slot()
			if err := f.Source.Next(p); err != nil {
				return n, err
			}
			if pr != nil {
				pr.tick(p)
			}
			sink.Add(p)
		}
		return max, nil
	}
	for n := 0; n < max; n++ {
		p := sink.Slot()
		if _, ok := fs.nextPcap(p, nil); !ok {
			if _, err := fs.next(p, nil); err != nil {
				return n, err
			}
		}
		if pr != nil {
			pr.tick(p)
		}
		sink.Add(p)
	}
	return max, nil
}
