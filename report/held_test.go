package report

import (
	"errors"
	"strings"
	"testing"
)

// TestWriteHeld: a streaming writer keeps what WriteHeld gives it until
// the next Write, Release or Close (or holdMax bytes of it), and the
// bytes are the same as when every finding is written at once; a writer
// that streams nothing (text, json) is written as by Write.
func TestWriteHeld(t *testing.T) {
	fs := testFindings()
	if len(fs) < 3 {
		t.Fatalf("got %d test findings, want at least 3", len(fs))
	}
	for _, format := range []string{"ndjson", "ecs"} {
		// The reference: every finding by Write.
		var ref countWriter
		w, err := New(format, &ref, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range fs {
			if err := w.Write(&fs[i]); err != nil {
				t.Fatal(err)
			}
		}
		if ref.writes != len(fs) {
			t.Fatalf("%s: %d writes for %d findings by Write, want one each", format, ref.writes, len(fs))
		}
		if err := w.Close(testSummary()); err != nil {
			t.Fatal(err)
		}

		var got countWriter
		w, _ = New(format, &got, Options{})
		for i := range fs[:len(fs)-1] {
			if err := WriteHeld(w, &fs[i]); err != nil {
				t.Fatal(err)
			}
		}
		if got.writes != 0 {
			t.Errorf("%s: %d writes after %d findings held, want none", format, got.writes, len(fs)-1)
		}
		if err := w.Write(&fs[len(fs)-1]); err != nil {
			t.Fatal(err)
		}
		if got.writes != 1 {
			t.Errorf("%s: %d writes after the held findings and one by Write, want 1", format, got.writes)
		}
		// Held, then released; held, then closed.
		if err := WriteHeld(w, &fs[0]); err != nil || got.writes != 1 {
			t.Fatalf("%s: WriteHeld: %v, %d writes, want none more", format, err, got.writes)
		}
		if err := Release(w); err != nil || got.writes != 2 {
			t.Fatalf("%s: Release: %v, %d writes, want 2", format, err, got.writes)
		}
		if err := Release(w); err != nil || got.writes != 2 {
			t.Fatalf("%s: Release with nothing held: %v, %d writes, want still 2", format, err, got.writes)
		}
		if err := WriteHeld(w, &fs[1]); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(testSummary()); err != nil {
			t.Fatal(err)
		}
		// The reference's findings, then fs[0] and fs[1] again (numbered
		// on), then the reference's close (ndjson's summary line).
		gotLines, refLines := strings.Split(got.String(), "\n"), strings.Split(ref.String(), "\n")
		if len(gotLines) != len(refLines)+2 {
			t.Fatalf("%s: %d lines, want the reference's %d and the two written again", format, len(gotLines), len(refLines))
		}
		for i := range fs {
			if gotLines[i] != refLines[i] {
				t.Errorf("%s: line %d differs from Write's:\n got %.300s\nwant %.300s", format, i, gotLines[i], refLines[i])
			}
		}
	}

	// holdMax: a long run of held findings is written in pieces of about
	// that size, none lost.
	var big countWriter
	w, _ := New("ndjson", &big, Options{})
	n := 0
	for big.Len() < 3*holdMax {
		if err := WriteHeld(w, &fs[n%len(fs)]); err != nil {
			t.Fatal(err)
		}
		n++
		if n > 100000 {
			t.Fatal("no write after 100,000 held findings")
		}
	}
	if err := Release(w); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(big.String(), "\n"); lines != n {
		t.Errorf("%d lines for %d held findings", lines, n)
	}
	if max := big.Len()/holdMax + 2; big.writes > max || big.writes < 3 {
		t.Errorf("%d writes for %d bytes held, want 3 to %d", big.writes, big.Len(), max)
	}

	// An error in writing held findings comes back from the call that
	// wrote them, and sticks.
	fail := &failWriter{err: errBroken}
	w, _ = New("ndjson", fail, Options{})
	if err := WriteHeld(w, &fs[0]); err != nil || fail.calls != 0 {
		t.Fatalf("WriteHeld to a failing output: %v after %d writes, want none", err, fail.calls)
	}
	if err := Release(w); !errors.Is(err, errBroken) {
		t.Errorf("Release to a failing output: %v, want %v", err, errBroken)
	}
	if err := w.Write(&fs[1]); !errors.Is(err, errBroken) {
		t.Errorf("Write after a failed one: %v, want %v", err, errBroken)
	}

	// Writers that stream nothing take WriteHeld as Write.
	for _, format := range []string{"text", "json", "markdown"} {
		var a, b countWriter
		wa, _ := New(format, &a, Options{})
		wb, _ := New(format, &b, Options{})
		for i := range fs {
			if err := wa.Write(&fs[i]); err != nil {
				t.Fatal(err)
			}
			if err := WriteHeld(wb, &fs[i]); err != nil {
				t.Fatal(err)
			}
		}
		if err := Release(wb); err != nil {
			t.Fatal(err)
		}
		wa.Close(testSummary())
		wb.Close(testSummary())
		if a.String() != b.String() {
			t.Errorf("%s: WriteHeld's document differs from Write's", format)
		}
	}
}

var errBroken = errors.New("broken pipe")
