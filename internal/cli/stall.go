package cli

import (
	"fmt"
	"io"
	"os"
	"time"
)

// StopGrace is how long, once a signal has stopped the run, a write to the
// report's output (or to -w's pipe) may go without progress before
// rstscope gives up on it.
const StopGrace = 2 * time.Second

// stallChunk is how much one write(2) hands the reader at a time, so that
// a slow reader that is still reading counts as progress.
const stallChunk = 64 << 10

// stalled is the error that ends an output (what: "the report", "the
// pcap") when its reader is alive but not reading.
func stalled(what string) error {
	return fmt.Errorf("the reader of %s has read nothing for %v since the signal: gave up (%s is incomplete)", what, StopGrace, what)
}

// stallWriter lets a single signal end a write that blocks on a reader
// that is alive but not reading (`rstscope ... | (sleep 1000)`): each Write
// is done by a goroutine of its own, in chunks; before stop it waits as
// long as the reader takes (a pipe's backpressure), after stop it gives up
// once StopGrace passes without a chunk written, and every later Write
// fails at once. The pipeline then goes on as after any report error: -w
// is completed and closed, and the run ends with the error. A write given
// up stays blocked in its goroutine until the process exits; its bytes
// are the writer's own copy, never reused.
type stallWriter struct {
	w     io.Writer
	stop  <-chan struct{}
	grace time.Duration
	req   chan []byte
	done  chan chunkResult
	buf   []byte
	give  error // the error once given up (see stalled)
	err   error // give, once given up
}

type chunkResult struct {
	n   int
	err error
}

// interruptibleOutput wraps w, the destination of what (the report, the
// pcap of -w), in a stallWriter when it is a file that a reader drains (a
// pipe, a FIFO, a socket); not a regular file or a terminal (whose width
// the report reads from the *os.File), nor an in-memory writer, none of
// which waits on a reader.
func interruptibleOutput(w io.Writer, stop <-chan struct{}, what string) io.Writer {
	f, ok := w.(interface{ Stat() (os.FileInfo, error) })
	if !ok {
		return w
	}
	if fi, err := f.Stat(); err == nil && (fi.Mode().IsRegular() || fi.Mode()&os.ModeCharDevice != 0) {
		return w
	}
	return &stallWriter{w: w, stop: stop, grace: StopGrace, give: stalled(what)}
}

func (s *stallWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.req == nil {
		s.req, s.done = make(chan []byte), make(chan chunkResult, 1)
		go s.loop()
	}
	s.buf = append(s.buf[:0], p...)
	s.req <- s.buf
	var timeout <-chan time.Time
	stop := s.stop
	if stopped(stop) {
		stop, timeout = nil, time.After(s.grace)
	}
	written := 0
	for written < len(p) {
		select {
		case r := <-s.done:
			written += r.n
			if r.err != nil {
				return written, r.err
			}
			if timeout != nil {
				timeout = time.After(s.grace) // progress: the reader reads
			}
		case <-stop:
			stop, timeout = nil, time.After(s.grace)
		case <-timeout:
			s.err = s.give
			return written, s.err
		}
	}
	return written, nil
}

// loop writes each request in chunks, reporting each chunk; it stops a
// request at its first error.
func (s *stallWriter) loop() {
	for b := range s.req {
		for len(b) > 0 {
			n, err := s.w.Write(b[:min(len(b), stallChunk)])
			s.done <- chunkResult{n, err}
			if err != nil {
				break
			}
			b = b[n:]
		}
	}
}

func stopped(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}
