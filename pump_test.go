package main

import (
	"bytes"
	"cmp"
	"io"
	"os"
	"strings"
	"testing"
)

// pipeLike hides a reader's type, so that the input reads as a pipe
// (capture.Follow's per-packet path) rather than as a steady file.
type pipeLike struct{ r io.Reader }

func (p pipeLike) Read(b []byte) (int, error) { return p.r.Read(b) }

// TestPumped_sameAsLoop: a file read into the sharded table is pumped,
// pollEvery packets a call (capture.Pumper); a pipe goes through read's
// per-packet loop. Both give the same document, whatever -c cuts: one
// packet, within the first call, at its end, one past it, one short of the
// capture's 110 packets, all of them, and more than there are.
func TestPumped_sameAsLoop(t *testing.T) {
	data, err := os.ReadFile(demoPcap)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"", "1", "63", "64", "65", "109", "110", "500"} {
		args := []string{"--format", "json"}
		if c != "" {
			args = append(args, "-c", c)
		}
		code, file, errs := runCLI(t, nil, append([]string{"-r", demoPcap}, args...)...)
		if code != 0 {
			t.Fatalf("-c %q, file: exit %d: %s", c, code, errs)
		}
		code, pipe, errs := runCLI(t, pipeLike{bytes.NewReader(data)}, append([]string{"-r", "-"}, args...)...)
		if code != 0 {
			t.Fatalf("-c %q, pipe: exit %d: %s", c, code, errs)
		}
		pipe = strings.Replace(pipe, `"-"`, `"`+demoPcap+`"`, 1)
		if file != pipe {
			t.Errorf("-c %q: the file's document differs from the pipe's:\n%s\n---\n%s", c, file, pipe)
		}
		if want := `"packets": ` + cmp.Or(c, "110"); c != "500" && !strings.Contains(file, want) {
			t.Errorf("-c %q: no %s in\n%.400s", c, want, file)
		}
	}
}
