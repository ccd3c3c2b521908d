package report

import (
	"bytes"
	"math/rand/v2"
	"os"
	"testing"
)

// TestSpillReader: records read back in any order (mostly ahead, some
// behind the chunk read last, one longer than a chunk, one straddling a
// chunk's end) come back as written; a record past the end of the file
// is an error, not short bytes.
func TestSpillReader(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "spill")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := rand.New(rand.NewPCG(1, 2))
	var keys []storeKey
	var recs [][]byte
	var off int64
	for i := range 3000 {
		n := 1 + r.IntN(3000)
		if i == 1500 {
			n = spillChunk + 12345
		}
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		if _, err := f.Write(b); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, storeKey{off: off, n: uint32(n)})
		recs = append(recs, b)
		off += int64(n)
	}
	order := make([]int, len(keys))
	for i := range order {
		order[i] = i
	}
	for i := 0; i+1 < len(order); i += 7 { // a few swapped neighbours: behind by one
		order[i], order[i+1] = order[i+1], order[i]
	}
	order = append(order, 10, 2999, 0) // far behind, and the first again
	rd := spillReader{file: f}
	for _, i := range order {
		b, err := rd.record(keys[i])
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if !bytes.Equal(b, recs[i]) {
			t.Fatalf("record %d (%d bytes at %d): read back different bytes", i, keys[i].n, keys[i].off)
		}
	}
	for _, k := range []storeKey{{off: off - 10, n: 20}, {off: 5, n: uint32(off)}} { // ahead; behind
		if _, err := rd.record(k); err == nil {
			t.Fatalf("%d bytes at %d, past the end of the file: got no error", k.n, k.off)
		}
	}
}
