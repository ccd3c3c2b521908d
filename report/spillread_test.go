package report

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestSpillReader: records written to the compressed spill file and read
// back in any order (mostly ahead, some behind the block read last, some
// far behind, beyond the blocks kept decompressed, one longer than a block,
// ones that fill a block exactly) come back as written; a key outside the
// records written is an error, not short or foreign bytes.
func TestSpillReader(t *testing.T) {
	w, err := newSpillWriter()
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	r := rand.New(rand.NewPCG(1, 2))
	var keys []storeKey
	var recs [][]byte
	var off int64
	for i := range 3000 {
		n := 1 + r.IntN(3000)
		switch i {
		case 1500:
			n = 3*spillBlock + 12345
		case 2000:
			n = spillBlock - len(w.blk) // fills the block to the byte
		}
		// Half random bytes, half a repeated phrase, as JSON findings
		// repeat their keys and sentences.
		b := make([]byte, n)
		for j := range b {
			if j < n/2 {
				b[j] = byte(r.Uint32())
			} else {
				b[j] = "the server reset it"[j%19]
			}
		}
		if err := w.write(b); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, storeKey{off: off, n: uint32(n)})
		recs = append(recs, b)
		off += int64(n)
	}
	if err := w.flush(); err != nil {
		t.Fatal(err)
	}
	if len(w.blocks) < 50 {
		t.Fatalf("%d blocks for %d bytes: the test does not cross block ends", len(w.blocks), off)
	}
	if w.at >= off {
		t.Errorf("spill file %d bytes for %d bytes of records: not compressed", w.at, off)
	}
	order := make([]int, len(keys))
	for i := range order {
		order[i] = i
	}
	for i := 0; i+1 < len(order); i += 7 { // a few swapped neighbours: behind by one
		order[i], order[i+1] = order[i+1], order[i]
	}
	order = append(order, 10, 2999, 0, 1500, 2000, 1999, 2001) // far behind, and again
	rd := newSpillReader(w)
	for _, i := range order {
		b, err := rd.record(keys[i])
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if !bytes.Equal(b, recs[i]) {
			t.Fatalf("record %d (%d bytes at %d): read back different bytes", i, keys[i].n, keys[i].off)
		}
	}
	for _, k := range []storeKey{{off: off - 10, n: 20}, {off: off, n: 1}, {off: 5, n: uint32(off)}, {off: keys[1501].off - 1, n: 2}} {
		if _, err := rd.record(k); !errors.Is(err, errSpillRange) {
			t.Errorf("%d bytes at %d, outside the records or across a block's end: got %v, want %v", k.n, k.off, err, errSpillRange)
		}
	}
}

// TestSpillReader_corrupt: a block whose bytes changed in the file is an
// error naming the spill, not a panic or wrong bytes.
func TestSpillReader_corrupt(t *testing.T) {
	w, err := newSpillWriter()
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	rec := bytes.Repeat([]byte("0123456789abcdef"), spillBlock/16)
	for range 3 {
		if err := w.write(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.file.WriteAt(bytes.Repeat([]byte{0xff}, 16), w.blocks[1].at); err != nil {
		t.Fatal(err)
	}
	rd := newSpillReader(w)
	if b, err := rd.record(storeKey{off: 0, n: uint32(len(rec))}); err != nil || !bytes.Equal(b, rec) {
		t.Fatalf("block 0: %v", err)
	}
	_, err = rd.record(storeKey{off: int64(len(rec)), n: uint32(len(rec))})
	if err == nil || !bytes.Contains([]byte(fmt.Sprint(err)), []byte("report: spill")) {
		t.Errorf("corrupt block 1: got %v, want a spill error", err)
	}
}
