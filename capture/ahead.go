package capture

import (
	"errors"
	"io"
	"sync"
)

// aheadReader reads an io.Reader on a goroutine of its own, up to
// aheadBlocks blocks of aheadBlockSize bytes (1 MiB) ahead of its own
// Read, which then only copies. A gzip or zstd capture's decompression
// runs there, so that the goroutine that decodes the packets (a
// Prefetch, see PrefetchHeavy) does not wait for it: inflating is most
// of what reading a gzip capture costs (3.3 s of CPU for the 1.2 GB bench
// capture), and on two cores it now overlaps the decoding and the flow
// tracking instead of coming before them.
//
// Pipes are read ahead too, eagerly (a block is handed over with the
// first bytes a read gives): a compressed capture on standard input from
// a pipe (the bench capture gzipped: 8.8 s -> 5.6-7.3 s; zstd 3.8 s ->
// 2.6-3.7 s) without holding back a live feed's packets.
//
// Read returns the reader's bytes in order and then its error (io.EOF at
// the end, or whatever ended it, after every byte read before it), as
// reading it directly would. Close stops the goroutine (at once when it
// is waiting for a free block, else after its current read); a Read
// after Close, or waiting when it comes, returns errAheadClosed.
type aheadReader struct {
	// eager: a block goes to Read as soon as a read of the source gave
	// bytes (a pipe, which may carry a live feed: its packets are not
	// held back until a block fills); else once full.
	eager bool
	full  chan aheadBlock
	free  chan []byte
	stop  chan struct{}
	once  sync.Once
	cur   []byte // the unread part of buf
	buf   []byte // the block being read, back to free once spent
	err   error  // what ended the stream, returned once cur is spent
}

type aheadBlock struct {
	b   []byte
	err error
}

// At most 1 MiB ahead an input: inputs merged by time (-r a.gz -r b.gz)
// are all open at once, each with its blocks. Blocks of 256 KiB read the
// gzipped bench capture as fast as blocks of 1 MiB (three alternated
// runs each, 4.7-5.7 s in a busy hour).
const (
	aheadBlockSize = 256 << 10
	aheadBlocks    = 4
)

func newAheadReader(r io.Reader, eager bool) *aheadReader {
	a := &aheadReader{eager: eager, full: make(chan aheadBlock, aheadBlocks), free: make(chan []byte, aheadBlocks), stop: make(chan struct{})}
	go a.fill(r)
	return a
}

// fill reads r into free blocks until r ends or Close. The blocks are
// made as needed, so that a small file costs one.
func (a *aheadReader) fill(r io.Reader) {
	made := 0
	for {
		var b []byte
		select {
		case b = <-a.free:
		default:
			if made < aheadBlocks {
				b, made = make([]byte, aheadBlockSize), made+1
				break
			}
			select {
			case b = <-a.free:
			case <-a.stop:
				return
			}
		}
		n := 0
		var err error
		for n < len(b) && err == nil && (n == 0 || !a.eager) {
			var k int
			k, err = r.Read(b[n:])
			n += k
		}
		select {
		case a.full <- aheadBlock{b[:n], err}:
		case <-a.stop:
			return
		}
		if err != nil {
			return
		}
	}
}

func (a *aheadReader) Read(p []byte) (int, error) {
	for len(a.cur) == 0 {
		if a.err != nil {
			return 0, a.err
		}
		if a.buf != nil {
			a.free <- a.buf[:cap(a.buf)] // never blocks: free can hold every block
			a.buf = nil
		}
		var blk aheadBlock
		select {
		case blk = <-a.full:
		case <-a.stop:
			return 0, errAheadClosed
		}
		a.buf, a.cur, a.err = blk.b, blk.b, blk.err
	}
	n := copy(p, a.cur)
	a.cur = a.cur[n:]
	return n, nil
}

// errAheadClosed is what Read gives once Close has been called.
var errAheadClosed = errors.New("read after close")

// Close stops the reading goroutine.
func (a *aheadReader) Close() {
	a.once.Do(func() { close(a.stop) })
}
