package capture

import (
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

// progress prints a one-line progress report (on stderr, when it is a
// terminal) while a long file is read: the share of the files read (bytes
// on disk, so the compressed bytes of a gzip file), packets per second and
// the time left, when the source knows its size (see Progresser). It looks
// at the wall clock once every 64k packets, so it costs nothing per
// packet.
type progress struct {
	w       io.Writer
	on      bool
	src     Progresser // nil when the size is unknown
	n       uint64
	start   time.Time
	next    time.Time
	printed bool
}

func newProgress(w io.Writer, src Source) *progress {
	now := time.Now()
	pr, _ := src.(Progresser)
	return &progress{w: w, on: w != nil, src: pr, start: now, next: now.Add(time.Second)}
}

// tick counts a packet; it is inlined, report is called once every 64k.
func (pr *progress) tick(p *Packet) {
	pr.n++
	if pr.n&0xffff == 0 && pr.on {
		pr.report(p)
	}
}

// report prints the line when it is due.
func (pr *progress) report(p *Packet) {
	if now := time.Now(); now.After(pr.next) {
		pr.next = now.Add(500 * time.Millisecond)
		var read, size int64
		if pr.src != nil {
			read, size = pr.src.Progress()
		}
		fmt.Fprintf(pr.w, "\r\x1b[K%s", progressLine(pr.n, now.Sub(pr.start), read, size, p.Time))
		pr.printed = true
	}
}

func (pr *progress) done() {
	if pr.printed {
		fmt.Fprint(pr.w, "\r\x1b[K")
	}
}

// progressLine gives the progress text after n packets in elapsed, with
// read of size bytes (size 0: unknown), at packet time at.
func progressLine(n uint64, elapsed time.Duration, read, size int64, at time.Time) string {
	rate := float64(n) / elapsed.Seconds()
	if size <= 0 || read <= 0 {
		return fmt.Sprintf("rstscope: %d packets read (%.2f M/s), at %s", n, rate/1e6, at.Format("2006-01-02 15:04:05"))
	}
	read = min(read, size)
	eta := time.Duration(float64(elapsed) * float64(size-read) / float64(read)).Round(time.Second)
	return fmt.Sprintf("rstscope: %3.0f%% of %s, %d packets (%.2f M/s), %s left, at %s",
		100*float64(read)/float64(size), sizeText(size), n, rate/1e6, eta, at.Format("2006-01-02 15:04:05"))
}

// sizeText gives a byte count in MB or GB.
func sizeText(b int64) string {
	if b >= 1e9 {
		return fmt.Sprintf("%.1f GB", float64(b)/1e9)
	}
	return fmt.Sprintf("%.0f MB", float64(b)/1e6)
}

// Progresser is implemented by the Sources of files (OpenFile, OpenFiles,
// and Prefetch over them): how far the input has been read, for a
// progress line. It is safe to call from any goroutine.
type Progresser interface {
	// Progress gives the bytes read from the files so far (of the
	// compressed file for gzip: the bytes on disk) and their total size;
	// size is 0 when unknown (stdin, a pipe). Reading runs a little
	// ahead of the packets returned (buffers of readBufferSize).
	Progress() (read, size int64)
}

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// Progress implements Progresser.
func (s *fileSource) Progress() (read, size int64) { return s.count.n.Load(), s.size }

// Progress implements Progresser.
func (f *prefetcher) Progress() (read, size int64) { return f.src.Progress() }

// Progress implements Progresser: the sum over the inputs, opened or not
// (size 0 when one of them is unknown).
func (m *mergeSource) Progress() (read, size int64) {
	known := true
	for i, s := range m.srcs {
		if p, ok := s.(Progresser); ok {
			r, _ := p.Progress()
			read += r
		}
		size += m.sizes[i]
		known = known && m.sizes[i] > 0
	}
	if !known {
		size = 0
	}
	return read, size
}
