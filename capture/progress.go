package capture

import (
	"io"
	"sync/atomic"
)

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
