package cli

import (
	"bytes"
	"io"
	"os"
	"testing"
)

// BenchmarkStallWriter: the cost of handing each report write to the
// stallWriter's goroutine, against writing to the pipe directly, for
// ndjson-sized lines (1 KiB) with a reader draining the pipe.
func BenchmarkStallWriter(b *testing.B) {
	line := append(bytes.Repeat([]byte("x"), 1023), '\n')
	for _, wrap := range []bool{false, true} {
		name := "direct"
		if wrap {
			name = "stallWriter"
		}
		b.Run(name, func(b *testing.B) {
			r, w, err := os.Pipe()
			if err != nil {
				b.Fatal(err)
			}
			drained := make(chan struct{})
			go func() { io.Copy(io.Discard, r); close(drained) }()
			var out io.Writer = w
			if wrap {
				out = interruptibleOutput(w, make(chan struct{}), "the report")
				if _, ok := out.(*stallWriter); !ok {
					b.Fatalf("a pipe: got %T, want a stallWriter", out)
				}
			}
			b.SetBytes(int64(len(line)))
			for b.Loop() {
				if _, err := out.Write(line); err != nil {
					b.Fatal(err)
				}
			}
			w.Close()
			<-drained
			r.Close()
		})
	}
}

// TestInterruptibleOutput: only a destination a reader drains is wrapped.
func TestInterruptibleOutput(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	f, err := os.Create(t.TempDir() + "/report")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stop := make(chan struct{})
	for _, tc := range []struct {
		name string
		w    io.Writer
		want bool
	}{{"pipe", w, true}, {"regular file", f, false}, {"buffer", &bytes.Buffer{}, false}, {"io.Discard", io.Discard, false}} {
		if _, got := interruptibleOutput(tc.w, stop, "the report").(*stallWriter); got != tc.want {
			t.Errorf("%s: wrapped %v, want %v", tc.name, got, tc.want)
		}
	}
}
