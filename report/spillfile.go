package report

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/klauspost/compress/s2"
)

// spillBlock is how many bytes of records the spill file compresses as
// one block (a block ends after the record that fills it: records are
// never split).
//
// Why compressed: the spill file is a temporary file, and where TMPDIR
// is a tmpfs (Debian 13 and Fedora mount /tmp so) its pages are memory
// that cannot be dropped, only swapped: 300,000 findings of a port scan
// spilled 750 MB of JSON. S2 (Snappy's faster, denser successor) in 64 KiB
// blocks keeps 1/11 of that scan's JSON and 1/6 of the bench capture's, at
// 0.9-2.6 GB/s; the system time of writing and reading the file back was
// 2 s of that scan's run.
const spillBlock = 64 << 10

// spillWriter appends records to the spill file (unlinked: nothing is left
// behind) in s2 blocks, and keeps where each block lies. A record is
// found again by its offset in the stream of records (storeKey.off).
type spillWriter struct {
	file   *os.File
	blk    []byte // the records of the block being filled
	start  int64  // the stream offset of blk[0]
	at     int64  // bytes written to file
	enc    []byte // compressed block, reused
	blocks []spillBlockRef
}

// spillBlockRef is one block of the spill file.
type spillBlockRef struct {
	start int64  // the stream offset of its first record
	at    int64  // where it lies in the file
	n     uint32 // compressed length
	raw   uint32 // its records' length
}

// newSpillWriter creates the spill file in the temporary directory.
func newSpillWriter() (*spillWriter, error) {
	f, err := os.CreateTemp("", "rstscope-findings-*")
	if err != nil {
		return nil, fmt.Errorf("report: spill file: %w", err)
	}
	os.Remove(f.Name()) // the open file stays readable; nothing is left behind
	return &spillWriter{file: f}, nil
}

// write appends one record.
func (w *spillWriter) write(rec []byte) error {
	w.blk = append(w.blk, rec...)
	if len(w.blk) >= spillBlock {
		return w.flush()
	}
	return nil
}

// flush writes the block being filled, if any.
func (w *spillWriter) flush() error {
	if len(w.blk) == 0 {
		return nil
	}
	w.enc = s2.Encode(w.enc[:cap(w.enc)], w.blk)
	if _, err := w.file.Write(w.enc); err != nil {
		return fmt.Errorf("report: spill: %w", err)
	}
	w.blocks = append(w.blocks, spillBlockRef{start: w.start, at: w.at, n: uint32(len(w.enc)), raw: uint32(len(w.blk))})
	w.start += int64(len(w.blk))
	w.at += int64(len(w.enc))
	w.blk = w.blk[:0]
	if cap(w.blk) > 4*spillBlock { // after a huge record
		w.blk = nil
	}
	return nil
}

// close closes the file.
func (w *spillWriter) close() error { return w.file.Close() }

// errSpillRange: a key outside the records written (a bug, or the file
// changed under us).
var errSpillRange = errors.New("record outside the spill file")

// spillReader reads spilled records back (after the writer's flush).
// Sorted, the records mostly come in the order they were written (the
// findings of a capture come nearly in time order), so the block a record
// lies in is usually the one read last; a few recent blocks are kept
// decompressed for records a little behind.
type spillReader struct {
	w     *spillWriter
	cache [4]spillCached
	tick  uint64
	comp  []byte // a compressed block, reused
}

type spillCached struct {
	block int // index in w.blocks; -1: empty
	b     []byte
	used  uint64
}

func newSpillReader(w *spillWriter) *spillReader {
	r := &spillReader{w: w}
	for i := range r.cache {
		r.cache[i].block = -1
	}
	return r
}

// record gives the spilled record of key k, valid until the next call.
func (r *spillReader) record(k storeKey) ([]byte, error) {
	bs := r.w.blocks
	i := sort.Search(len(bs), func(i int) bool { return bs[i].start > k.off }) - 1
	if i < 0 || k.off+int64(k.n) > bs[i].start+int64(bs[i].raw) {
		return nil, fmt.Errorf("report: spill: %d bytes at %d: %w", k.n, k.off, errSpillRange)
	}
	b, err := r.block(i)
	if err != nil {
		return nil, err
	}
	from := k.off - bs[i].start
	return b[from : from+int64(k.n)], nil
}

// block gives block i's records, from the cache or the file.
func (r *spillReader) block(i int) ([]byte, error) {
	r.tick++
	lru := 0
	for j := range r.cache {
		c := &r.cache[j]
		if c.block == i {
			c.used = r.tick
			return c.b, nil
		}
		if c.used < r.cache[lru].used {
			lru = j
		}
	}
	ref := r.w.blocks[i]
	if cap(r.comp) < int(ref.n) {
		r.comp = make([]byte, ref.n)
	}
	comp := r.comp[:ref.n]
	if n, err := r.w.file.ReadAt(comp, ref.at); n < len(comp) {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("report: spill: %w", err)
	}
	c := &r.cache[lru]
	c.block = -1
	if cap(c.b) < int(ref.raw) || cap(c.b) > 4*spillBlock && int(ref.raw) <= spillBlock {
		c.b = make([]byte, ref.raw)
	}
	b, err := s2.Decode(c.b[:cap(c.b)], comp)
	if err != nil || len(b) != int(ref.raw) {
		if err == nil {
			err = fmt.Errorf("block %d: %d bytes, want %d", i, len(b), ref.raw)
		}
		return nil, fmt.Errorf("report: spill: %w", err)
	}
	c.block, c.b, c.used = i, b, r.tick
	return b, nil
}
