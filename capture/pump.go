package capture

import (
	"io"
	"time"
)

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
		if fs.ng != nil {
			n += fs.pumpNg(sink, max-n, pr)
		} else {
			n += fs.pumpPcap(sink, max-n, pr)
		}
		if n == max {
			break
		}
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

// pumpPcap is Pump's loop over the records of a classic pcap file that
// nextPcap takes (whole in the reader's window, decoded by the fast
// path), nextPcap's and took's work with the reader's and the source's
// state in locals, written back once a call: it adds up to max packets
// to sink and returns how many, stopping before a record it does not
// take (the window to refill, a frame for the general decoder, a filter,
// anything pending), which Pump then reads its general way.
func (s *fileSource) pumpPcap(sink Sink, max int, pr *progress) int {
	r := s.pcap
	if r == nil || s.filter != nil || s.hasPending || s.err != nil || max <= 0 {
		return 0
	}
	buf, start, end, lt := r.buf, r.start, r.end, r.linkType
	run := s.startRun()
	for ; run.n < max && end-start >= 16; run.n++ {
		rec := buf[start:end]
		cl := r.u32(rec[8:12])
		if cl > maxRecordLen || int(cl) > len(rec)-16 {
			break
		}
		data := rec[16 : 16+int(cl) : 16+int(cl)]
		p := sink.Slot()
		if !s.dec.fast(lt, data, p) {
			break
		}
		start += 16 + int(cl)
		ts, wire := r.header(rec)
		s.pumped(&run, p, ts, int(cl), wire)
		if pr != nil {
			pr.tick(p)
		}
		sink.Add(p) // which reads nothing of the source's
	}
	r.start = start
	return s.endRun(&run)
}

// pumpRun is what a pump loop (pumpPcap, pumpNg) keeps of the source's
// counters while it runs, written back once a call (endRun).
type pumpRun struct {
	index uint64
	first bool // no packet read before this one
	ts    time.Time
	cut   uint64
	n     int
}

func (s *fileSource) startRun() pumpRun {
	return pumpRun{index: s.index, first: s.stats.Packets == 0}
}

// pumped finishes p, which the fast path decoded from a record of cl
// bytes of wire stamped ts: took's work, counted in run.
func (s *fileSource) pumped(run *pumpRun, p *Packet, ts time.Time, cl, wire int) {
	run.index++
	run.ts = ts
	if run.first {
		s.stats.FirstTime, run.first = ts, false
	}
	p.Index, p.Input, p.Time = run.index, s.input, ts
	p.FlowHash, p.RouteHash = s.dec.hash, s.dec.route
	p.CapLen, p.WireLen = cl, wire
	if cl < wire && p.Truncated() {
		run.cut++
	}
}

// endRun writes run's counters back and returns its packets.
func (s *fileSource) endRun(run *pumpRun) int {
	s.index = run.index
	if n := uint64(run.n); n > 0 {
		s.stats.Packets += n
		s.stats.TCPPackets += n
		s.stats.SnapCut += run.cut
		s.stats.LastTime = run.ts
	}
	return run.n
}

// pumpNg is pumpPcap for a pcapng file: it adds up to max packets of the
// enhanced packet blocks whole in the reader's window to sink, stopping
// before any other block, a block ngRecordReader would refuse, a frame
// on a link type not the last one's (next records it), or one the fast
// path does not decode, which Pump then reads its general way. Blocks
// that tshark numbers (r.numbered) are read by next with the packet after
// them, so the count is 0 here; were it not, next would have to count
// the packet.
func (s *fileSource) pumpNg(sink Sink, max int, pr *progress) int {
	r := s.ng
	if r == nil || s.filter != nil || s.hasPending || s.err != nil || r.skipping || r.numbered != 0 || max <= 0 {
		return 0
	}
	buf, start, end, ifaces := r.buf, r.start, r.end, r.ifaces
	run := s.startRun()
	for ; run.n < max && end-start >= 32; run.n++ {
		b := buf[start:end]
		length := r.u32(b[4:8])
		if r.u32(b) != ngBlockEnhanced || length < 32 || length%4 != 0 || length > maxPacketBlockLen || int(length) > len(b) {
			break
		}
		ifc, cl := r.u32(b[8:12]), r.u32(b[20:24])
		if ifc >= uint32(len(ifaces)) || cl > maxRecordLen || cl+32 > length {
			break
		}
		f := &ifaces[ifc]
		if f.linkType != s.lastLink {
			break
		}
		data := b[28 : 28+cl : 28+cl]
		p := sink.Slot()
		if !s.dec.fast(f.linkType, data, p) {
			break
		}
		start += int(length)
		ts := f.time(uint64(r.u32(b[12:16]))<<32 | uint64(r.u32(b[16:20])))
		s.pumped(&run, p, ts, int(cl), int(r.u32(b[24:28])))
		if pr != nil {
			pr.tick(p)
		}
		sink.Add(p)
	}
	r.start = start
	return s.endRun(&run)
}
