package capture

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// pipeReadTimeout is how long Next on a pipe waits before it returns
// ErrTimeout, as a live capture's read timeout (liveReadTimeout).
const pipeReadTimeout = 150 * time.Millisecond

// pipeLiveSkew is how close to the wall clock a pipe's packets must be
// stamped for the pipe to count as a live feed (tcpdump -w - -U): only then
// may a silence move packet time on. A recorded capture piped in (zcat
// old.pcap.gz |) keeps packet time, whatever its reader's pace.
const pipeLiveSkew = 10 * time.Second

// Follow returns a Source that ends (io.EOF) once stop is closed, however
// src is waiting, so that a signal always ends the read and pending
// findings are decided: a live capture is closed (its Next returns within
// a read timeout); a pipe, FIFO or terminal input is read in a goroutine of
// its own so that Next returns at once even while the writer is quiet; a
// regular file ends before its next packet.
//
// A pipe carrying a live feed also becomes a Clock, as a live capture is:
// while it is silent, Next returns ErrTimeout every read timeout, and Now
// gives the last packet's time plus the wall time the pipe has been
// silent, so that findings are decided once their look-ahead has passed
// rather than at the next packet. A feed is live when its packets are
// stamped within 10 s of the wall clock as they arrive.
//
// src must not be used directly afterwards; closing the returned Source
// closes it. Call its methods from one goroutine.
//
// For regular files, progress (when not nil: a terminal) gets a progress
// line while a long capture is read.
func Follow(src Source, stop <-chan struct{}, progress io.Writer) Source {
	switch {
	case steadySource(src):
		f := &followFile{Source: src, done: make(chan struct{}), prog: newProgress(progress, src)}
		f.ref, _ = src.(Referencer)
		f.pf, _ = src.(*prefetcher)
		f.fs, _ = src.(*fileSource)
		go func() {
			select {
			case <-stop:
				f.stopped.Store(true)
			case <-f.done:
			}
		}()
		return f
	case isLive(src):
		f := &followLive{followFile{Source: src, done: make(chan struct{})}}
		go func() {
			select {
			case <-stop:
				src.Close() // a Next blocked in libpcap returns io.EOF
			case <-f.done:
			}
		}()
		return f
	}
	p := &followPipe{src: src, stop: stop, req: make(chan struct{}, 1), res: make(chan error, 1), done: make(chan struct{})}
	p.timer = time.NewTimer(pipeReadTimeout)
	p.timer.Stop()
	go p.work()
	go func() {
		select {
		case <-stop:
			p.stopped.Store(true)
		case <-p.done:
		}
	}()
	return p
}

// steadySource reports whether src reads only regular files or memory.
func steadySource(src Source) bool {
	switch s := src.(type) {
	case *prefetcher:
		return true
	case *fileSource:
		return s.steady
	case *mergeSource:
		for _, in := range s.srcs {
			if in != nil && !steadySource(in) {
				return false
			}
		}
		return true
	}
	return false
}

// isLive reports whether src is a live capture (a Clock that Follow did
// not make).
func isLive(src Source) bool {
	_, ok := src.(Clock)
	return ok
}

// followFile is Follow's Source over regular files.
type followFile struct {
	Source
	stopped atomic.Bool
	done    chan struct{}
	once    sync.Once
	prog    *progress   // nil for a live capture
	ref     Referencer  // src's, or nil
	pf      *prefetcher // src, when it is one: its NextRef's common case inlined
	fs      *fileSource // src, when it is one: Next calls it directly
	pk      Packet      // NextRef's packet when src copies
}

// NextRef implements Referencer: src's packet when it hands out its own,
// else a copy in f.
func (f *followFile) NextRef() (*Packet, error) {
	if f.ref == nil {
		err := f.Next(&f.pk)
		return &f.pk, err
	}
	if f.stopped.Load() {
		return nil, io.EOF
	}
	if f.pf != nil {
		if p := f.pf.take(); p != nil {
			if f.prog != nil {
				f.prog.tick(p)
			}
			return p, nil
		}
	}
	p, err := f.ref.NextRef()
	if f.prog != nil && err == nil {
		f.prog.tick(p)
	}
	return p, err
}

func (f *followFile) Next(p *Packet) error {
	if f.stopped.Load() {
		return io.EOF
	}
	var err error
	if f.fs != nil {
		err = f.fs.Next(p) // no interface call: a file read in place, once a packet
	} else {
		err = f.Source.Next(p)
	}
	if f.prog != nil && err == nil {
		f.prog.tick(p)
	}
	return err
}

func (f *followFile) Close() error {
	f.once.Do(func() {
		close(f.done)
		if f.prog != nil {
			f.prog.done()
		}
	})
	return f.Source.Close()
}

// LinkTypes implements LinkTyper.
func (f *followFile) LinkTypes() []int { return linkTypesOf(f.Source) }

func (f *followFile) addsLinkTypes() bool { return MayAddLinkTypes(f.Source) }

func linkTypesOf(src Source) []int {
	if lt, ok := src.(LinkTyper); ok {
		return lt.LinkTypes()
	}
	return nil
}

// followLive is Follow's Source over a live capture.
type followLive struct{ followFile }

// Now implements Clock.
func (f *followLive) Now() time.Time { return f.Source.(Clock).Now() }

// followPipe is Follow's Source over a pipe, FIFO or terminal: a worker
// goroutine calls src.Next when Next asks (so that the packet it fills
// stays valid, as Source promises, until the following Next), and Next
// waits for it, for the read timeout, or for stop. The handoff costs about
// a microsecond per packet, so once the first packet shows a recorded
// capture (not a live feed), Next reads src directly: a capture piped in
// from zcat reads as fast as before, and a signal ends it at its next
// packet (a second signal, if it stalls).
type followPipe struct {
	src   Source
	stop  <-chan struct{}
	req   chan struct{} // Next asks the worker for a packet
	res   chan error    // the worker's answer; pkt is filled when nil
	done  chan struct{}
	once  sync.Once
	timer *time.Timer

	pkt     Packet // the worker's packet, copied out by Next
	waiting bool   // a request is out
	err     error  // sticky end
	direct  bool   // a recorded capture: Next reads src itself
	stopped atomic.Bool

	// Snapshots the worker takes before each src.Next, so that Stats and
	// LinkTypes never touch src while the worker reads it.
	mu    sync.Mutex
	stats Stats
	links []int

	// Clock (see liveSource): time of the last packet, whether the feed
	// is live, and the wall-clock instant the pipe was first seen silent.
	lastTime  time.Time
	live      bool
	idleSince time.Time
}

func (f *followPipe) snapshot() {
	st, links := f.src.Stats(), linkTypesOf(f.src)
	f.mu.Lock()
	f.stats, f.links = st, links
	f.mu.Unlock()
}

func (f *followPipe) work() {
	for {
		select {
		case <-f.req:
		case <-f.done:
			return
		}
		f.snapshot() // what Stats gives while this read waits
		err := f.src.Next(&f.pkt)
		f.res <- err
		if err != nil {
			return
		}
	}
}

// Next implements Source.
func (f *followPipe) Next(p *Packet) error {
	if f.err != nil {
		return f.err
	}
	if f.direct {
		if f.stopped.Load() {
			f.err = io.EOF
			return io.EOF
		}
		return f.src.Next(p) // the worker is parked: it touches src only on a request
	}
	if !f.waiting {
		f.req <- struct{}{}
		f.waiting = true
	}
	var timeout <-chan time.Time
	if f.live {
		f.timer.Reset(pipeReadTimeout)
		defer f.timer.Stop()
		timeout = f.timer.C
	}
	select {
	case err := <-f.res:
		f.waiting = false
		if err != nil {
			f.err = err
			return err
		}
		*p = f.pkt
		now := time.Now()
		f.lastTime, f.idleSince = p.Time, time.Time{}
		f.live = p.Time.After(now.Add(-pipeLiveSkew)) && p.Time.Before(now.Add(pipeLiveSkew))
		f.direct = !f.live
		return nil
	case <-timeout:
		if f.idleSince.IsZero() {
			f.idleSince = time.Now()
		}
		return ErrTimeout
	case <-f.stop:
		f.err = io.EOF
		return io.EOF
	}
}

// Now implements Clock: the zero Time until the feed is seen to be live.
func (f *followPipe) Now() time.Time {
	if !f.live || f.idleSince.IsZero() {
		return f.lastTime
	}
	return f.lastTime.Add(time.Since(f.idleSince))
}

// Stats implements Source: src's own when the worker is not reading it,
// else the worker's snapshot from before its read.
func (f *followPipe) Stats() Stats {
	if !f.waiting {
		return f.src.Stats()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

// LinkTypes implements LinkTyper.
func (f *followPipe) LinkTypes() []int {
	if !f.waiting {
		return linkTypesOf(f.src)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.links...)
}

// addsLinkTypes asks src: which reader it has is fixed at open.
func (f *followPipe) addsLinkTypes() bool { return MayAddLinkTypes(f.src) }

// Close implements Source. A worker still blocked in a read (stop came
// while the writer was quiet) is left to it: src is then not closed, as
// closing it would race with the read; the process is about to exit.
func (f *followPipe) Close() error {
	f.once.Do(func() { close(f.done) })
	if f.waiting {
		return nil
	}
	return f.src.Close()
}

var (
	_ Source    = (*followFile)(nil)
	_ LinkTyper = (*followFile)(nil)
	_ Clock     = (*followLive)(nil)
	_ Clock     = (*followPipe)(nil)
	_ LinkTyper = (*followPipe)(nil)
)

// Interruptible runs open, which may block (a FIFO waits for its other
// end, a pipe for its writer), until it returns or stop is closed; what
// names the file in the error then.
func Interruptible[T any](stop <-chan struct{}, what string, open func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := open()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-stop:
		var zero T
		return zero, fmt.Errorf("%s: interrupted while waiting for it to open", what)
	}
}

// StopAfter returns a channel closed when stop is, or after d when d is not
// zero (--duration). Closing done ends its goroutine.
func StopAfter(stop <-chan struct{}, d time.Duration, done <-chan struct{}) <-chan struct{} {
	if d == 0 {
		return stop
	}
	halt := make(chan struct{})
	go func() {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-stop:
		case <-t.C:
		case <-done:
			return
		}
		close(halt)
	}()
	return halt
}
