package capture

import (
	"io"
	"sort"
)

// Batches of a prefetching Source: packets per batch, the frame bytes a
// batch holds, and how many batches are in flight (read ahead or in use).
const (
	prefetchPackets = 512
	prefetchBytes   = 256 << 10
	prefetchBatches = 8
	// prefetchRelease is how many batches the caller holds, once done
	// with them, before it gives them back together (see release).
	prefetchRelease = prefetchBatches / 2
)

// Prefetch returns a Source that reads and decodes src's frames in a
// goroutine of its own, a batch of packets ahead of the caller, so that
// reading and decoding run on one core while the caller tracks flows on
// another. The caller sees exactly what src would return, in the same
// order, and Stats and LinkTypes as they were when the last packet it got
// was read. Packet.Payload and Packet.Frame alias the batch buffer, valid
// until the next call to Next as with any Source.
//
// Regular files and captures in memory (OpenFile, and each such input of
// OpenFiles) are prefetched. Any other Source is returned as it is: a live
// capture, and a pipe or FIFO (stdin from tcpdump -w -), whose packets
// must reach the caller as they come, not a batch at a time (-c N must not
// wait for a batch to fill). src must not be used directly afterwards;
// closing the returned Source closes it.
func Prefetch(src Source) Source {
	return prefetchIf(src, func(*fileSource) bool { return true })
}

// PrefetchHeavy is Prefetch for the inputs whose reading costs more than
// a plain file's: compressed ones (gzip, zstd). A plain pcap or pcapng file
// is read and decoded where the caller reads it. A caller whose other
// work keeps every core busy (flows.Sharded's shards on two cores) is
// faster so: no copy of each frame into a batch, no handoff between
// goroutines. On the bench capture, two shards took 1.65 s reading in
// place against 1.78 s prefetched (medians of five alternated rounds, CPU
// 3.0 s against 3.2 s); as pcapng, once read in place by ngRecordReader
// and pumpNg, 1.79 s against 2.12 s (nine rounds; pcapgo's reader had
// been the other way, 2.7-2.8 s in place against 2.3 s prefetched).
func PrefetchHeavy(src Source) Source {
	return prefetchIf(src, func(s *fileSource) bool { return s.compressed || s.pcap == nil && s.ng == nil })
}

// prefetchIf prefetches the file inputs of src that are steady and pass
// want.
func prefetchIf(src Source, want func(*fileSource) bool) Source {
	switch s := src.(type) {
	case *fileSource:
		if s.steady && want(s) {
			return newPrefetcher(s)
		}
	case *mergeSource:
		s.prefetch = want
		for i, in := range s.srcs {
			if fs, ok := in.(*fileSource); ok && fs.steady && want(fs) {
				s.srcs[i] = newPrefetcher(fs)
			}
		}
	}
	return src
}

// Referencer is implemented by a Source that can hand out the next
// packet where it holds it instead of copying it into the caller's
// (Prefetch, and Follow over it: a Packet is about 240 bytes). The packet
// is the Source's: the caller must not change it, and it is valid until
// the next call, as Payload is with Next.
type Referencer interface {
	NextRef() (*Packet, error)
}

// HoldsPackets reports whether src's NextRef hands out packets src already
// holds (decoded ahead by Prefetch) rather than decoding each into a
// packet of its own. A caller with a packet of its own to fill
// (flows.Sharded.Slot) does better with Next when it does not: the frame
// is decoded where the caller keeps it, with no copy.
func HoldsPackets(src Source) bool {
	switch s := src.(type) {
	case *prefetcher:
		return true
	case *followFile:
		return s.ref != nil
	}
	return false
}

// mark holds the counters of a fileSource just after it returned the
// packet at index at of its batch, so that Stats can answer as of the
// packet the caller got last. A batch keeps a mark only where the
// counters did not simply move on by one packet: at its first packet, and
// after frames that were skipped (not TCP, undecodable, filtered) or a new
// link type. Between two marks, each packet adds one to Packets and
// TCPPackets, and one to SnapCut when the snaplen cut it, which the packet
// itself shows. (A full mark per packet, 80 bytes, cost 10% of the reading
// goroutine on the bench capture.)
type mark struct {
	at                                                          int32
	packets, tcpPackets, nonTCP, undecodable, filtered, snapCut uint64
	nErrors, nLinks                                             int
	// Stats.Hidden as of the mark is batch.hidden[hiddenAt:hiddenAt+nHidden].
	hiddenAt, nHidden int32
	hiddenOther       uint64
}

// batch is one read-ahead run of packets with the frames they alias.
type batch struct {
	pkts  []Packet
	marks []mark // in order of at
	buf   []byte
	// hidden holds copies of Stats.Hidden, one each time it changed
	// within the batch (rare: only frames that may hide TCP change it).
	hidden []HiddenCount
	// At the end of the batch: the source's Stats (FirstErrors and
	// links are shared, append-only slices: read them up to a mark's
	// counts) and, on the last batch, the error that ended the input.
	stats Stats
	links []int
	err   error
}

// markOf returns the last mark at or before packet i.
func (b *batch) markOf(i int) *mark {
	j := sort.Search(len(b.marks), func(j int) bool { return int(b.marks[j].at) > i })
	return &b.marks[j-1] // marks[0] is at packet 0
}

// prefetcher is the Source Prefetch returns for a file.
type prefetcher struct {
	src *fileSource

	full    chan *batch // read ahead, in order
	free    chan *batch // returned by the caller
	stop    chan struct{}
	done    chan struct{} // closed when the goroutine has returned
	started bool

	cur  *batch   // batch being handed out
	held []*batch // batches done with, not yet given back (see release)
	// i is the next packet of cur, and of last: last is the batch of the
	// packet returned last (cur, until Close drops cur), and i-1 that
	// packet's index in it; at the end, last is the last batch and i-1
	// its length (the final counters).
	i      int
	pkts   []Packet // cur.pkts, nil without cur
	last   *batch
	err    error // sticky end
	closed bool
}

func newPrefetcher(s *fileSource) *prefetcher {
	f := &prefetcher{
		src:  s,
		full: make(chan *batch, prefetchBatches),
		free: make(chan *batch, prefetchBatches),
		stop: make(chan struct{}),
		done: make(chan struct{}),
		held: make([]*batch, 0, prefetchBatches),
	}
	for range prefetchBatches {
		f.free <- &batch{
			pkts:  make([]Packet, 0, prefetchPackets),
			marks: make([]mark, 0, prefetchPackets),
			buf:   make([]byte, 0, prefetchBytes),
		}
	}
	return f
}

// run is the reading goroutine: it fills free batches until the input ends
// or Close stops it.
func (f *prefetcher) run() {
	defer close(f.done)
	for {
		var b *batch
		select {
		case b = <-f.free:
		case <-f.stop:
			return
		}
		f.fill(b)
		select {
		case f.full <- b:
		case <-f.stop:
			return
		}
		if b.err != nil {
			return
		}
	}
}

// fill reads the source's next packets into b, up to its capacity (of
// packets or of frame bytes), or to the end of the input, which it keeps
// in b.err.
func (f *prefetcher) fill(b *batch) {
	s := f.src
	b.pkts, b.marks, b.buf, b.hidden, b.err = b.pkts[:0], b.marks[:0], b.buf[:0], b.hidden[:0], nil
	var hiddenAt, nHidden int32
	var hiddenSum uint64 // frames counted in the copy at hiddenAt
	var lastPackets uint64
	var lastLinks int
	for len(b.pkts) < cap(b.pkts) {
		b.pkts = b.pkts[:len(b.pkts)+1]
		p := &b.pkts[len(b.pkts)-1]
		buf, ok := s.nextPcap(p, b.buf)
		var err error
		if !ok {
			buf, err = s.next(p, b.buf)
		}
		b.buf = buf
		if err != nil {
			b.pkts = b.pkts[:len(b.pkts)-1]
			if err != errNoRoom {
				b.err = err
			}
			break
		}
		if p.FlowHash == 0 { // the general path decoded it
			p.FlowHash = FlowHash(p.Src, p.Dst)
		}
		st := &s.stats
		if st.Packets == lastPackets+1 && len(s.links) == lastLinks && len(b.marks) > 0 {
			lastPackets++ // the common case: no mark
			continue
		}
		lastPackets, lastLinks = st.Packets, len(s.links)
		if len(st.Hidden) > 0 {
			sum := st.HiddenOther
			for _, h := range st.Hidden {
				sum += h.Count
			}
			if sum != hiddenSum || len(b.marks) == 0 {
				hiddenAt, nHidden, hiddenSum = int32(len(b.hidden)), int32(len(st.Hidden)), sum
				b.hidden = append(b.hidden, st.Hidden...)
			}
		}
		b.marks = append(b.marks, mark{
			at:      int32(len(b.pkts) - 1),
			packets: st.Packets, tcpPackets: st.TCPPackets, nonTCP: st.NonTCP, undecodable: st.Undecodable,
			filtered: st.Filtered, snapCut: st.SnapCut,
			nErrors: len(st.FirstErrors), nLinks: len(s.links),
			hiddenAt: hiddenAt, nHidden: nHidden, hiddenOther: st.HiddenOther,
		})
	}
	b.stats, b.links = s.stats, s.links
}

// Next implements Source.
func (f *prefetcher) Next(p *Packet) error {
	q, err := f.NextRef()
	if err == nil {
		*p = *q
	}
	return err
}

// NextRef implements Referencer: the packet where the batch holds it.
func (f *prefetcher) NextRef() (*Packet, error) {
	if p := f.take(); p != nil {
		return p, nil
	}
	return f.nextBatch()
}

// take is NextRef's common case, the next packet of the current batch, or
// nil (then nextBatch). It is inlined where the caller knows the
// prefetcher (Follow's Source does): a call less per packet on the flow
// table's core.
func (f *prefetcher) take() *Packet {
	if i := f.i; i < len(f.pkts) {
		f.i = i + 1
		return &f.pkts[i]
	}
	return nil
}

// nextBatch is NextRef past the end of the current batch (or after Close,
// which drops it): the next batch's first packet, or the end.
func (f *prefetcher) nextBatch() (*Packet, error) {
	for {
		if f.err != nil {
			return nil, f.err
		}
		if b := f.cur; b != nil {
			if f.i < len(b.pkts) {
				f.last = b
				f.i++
				return &b.pkts[f.i-1], nil
			}
			if b.err != nil {
				f.err = b.err
				f.last, f.i = b, len(b.pkts)+1 // the end: the final counters
				return nil, f.err
			}
		}
		if !f.started {
			f.started = true
			go f.run()
		}
		if f.cur != nil { // done with: the caller's last packet is no longer valid
			f.held = append(f.held, f.cur)
			f.cur, f.pkts = nil, nil
		}
		var next *batch
		select {
		case next = <-f.full:
		default:
			f.release() // the reader may be waiting for them to go on
			next = <-f.full
		}
		if len(f.held) >= prefetchRelease {
			f.release()
		}
		f.cur, f.i, f.pkts = next, 0, next.pkts
	}
}

// release gives the held batches back to the reading goroutine. Each send
// to a goroutine waiting on free wakes it (a futex call on this core), and
// on a big file the reader is the one that waits: returning batches a few
// at a time, it wakes once for several instead of once per batch (the
// per-batch wake-ups cost 2-3% of the flow table's goroutine).
func (f *prefetcher) release() {
	for _, b := range f.held {
		f.free <- b // never blocks: there are only prefetchBatches batches
	}
	f.held = f.held[:0]
}

// Stats implements Source: the counters as they were when the packet
// returned last was read (after the end: the final counters).
func (f *prefetcher) Stats() Stats {
	b, lastI := f.last, f.i-1
	if b == nil {
		return f.src.Stats() // nothing read yet: the goroutine has not started
	}
	st := b.stats
	if lastI < len(b.pkts) {
		m := b.markOf(lastI)
		since := uint64(lastI - int(m.at)) // packets after the mark's, each one frame
		snapCut := m.snapCut
		for i := int(m.at) + 1; i <= lastI; i++ {
			if p := &b.pkts[i]; p.CapLen < p.WireLen && p.Truncated() {
				snapCut++
			}
		}
		st.Packets, st.TCPPackets = m.packets+since, m.tcpPackets+since
		st.NonTCP, st.Undecodable, st.Filtered, st.SnapCut = m.nonTCP, m.undecodable, m.filtered, snapCut
		st.Truncated = false
		st.LastTime = b.pkts[lastI].Time
		st.FirstErrors = st.FirstErrors[:m.nErrors]
		st.Hidden = b.hidden[m.hiddenAt : m.hiddenAt+m.nHidden]
		st.HiddenOther = m.hiddenOther
	}
	st.FirstErrors = append([]FrameError(nil), st.FirstErrors...)
	st.Hidden = append([]HiddenCount(nil), st.Hidden...) // as of the batch's end
	return st
}

// addsLinkTypes asks src: which reader it has is fixed at open.
func (f *prefetcher) addsLinkTypes() bool { return f.src.addsLinkTypes() }

// LinkTypes implements LinkTyper.
func (f *prefetcher) LinkTypes() []int {
	b, lastI := f.last, f.i-1
	if b == nil {
		return f.src.LinkTypes()
	}
	links := b.links
	if lastI < len(b.pkts) {
		links = links[:b.markOf(lastI).nLinks]
	}
	return append([]int(nil), links...)
}

// Close implements Source: it stops the goroutine (which never waits long:
// Prefetch reads ahead only from inputs that do not wait for data), then
// closes the file.
func (f *prefetcher) Close() error {
	if f.err == nil {
		f.err = io.EOF
	}
	f.cur, f.pkts = nil, nil // take no longer finds a packet
	if f.closed {
		return nil
	}
	f.closed = true
	if f.started {
		close(f.stop)
		<-f.done
	}
	return f.src.Close()
}

// Compile-time checks.
var (
	_ Source     = (*prefetcher)(nil)
	_ LinkTyper  = (*prefetcher)(nil)
	_ Referencer = (*prefetcher)(nil)
)
