package report

import (
	"bytes"
	"testing"

	"github.com/rstscope/rstscope/heuristics"
)

// countWriter counts the writes it takes.
type countWriter struct {
	bytes.Buffer
	writes int
}

func (w *countWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

// TestJSON_closeWrites: a document's records go out in writes of at least
// closeWrite bytes, and the bytes are the same as written one record at a
// time (spilled or not).
func TestJSON_closeWrites(t *testing.T) {
	var fs []heuristics.Finding
	for len(fs) < 1500 {
		fs = append(fs, testFindings()...)
	}
	doc := func(cw int) (string, int) {
		defer func(n int) { closeWrite = n }(closeWrite)
		closeWrite = cw
		var w countWriter
		renderTo(t, &w, "json", Options{}, fs, testSummary())
		return w.String(), w.writes
	}
	defer func(n int) { spillAfter = n }(spillAfter)
	for _, spill := range []int{1 << 30, 3} {
		spillAfter = spill
		one, oneWrites := doc(1)
		got, writes := doc(64 << 10)
		if oneWrites < len(fs) {
			t.Fatalf("spillAfter %d: closeWrite 1 made %d writes for %d findings: want one a record", spill, oneWrites, len(fs))
		}
		if max := len(got)/(64<<10) + 4; writes > max {
			t.Errorf("spillAfter %d: %d writes for %d bytes, want at most %d", spill, writes, len(got), max)
		}
		if len(got) < 4*(64<<10) {
			t.Fatalf("spillAfter %d: a %d-byte document: the test should span several writes", spill, len(got))
		}
		if got != one {
			t.Errorf("spillAfter %d: the document in %d writes differs from the one in %d", spill, writes, oneWrites)
		}
	}
}
