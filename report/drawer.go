package report

import (
	"runtime"

	"github.com/rstscope/rstscope/heuristics"
)

// cardsAhead is how many cards Close may have drawn, or being drawn,
// ahead of the one it writes.
const cardsAhead = 64

// drawer draws a document's cards (text) or sections (markdown) at Close
// on every core and writes them in order. The findings come from the
// store in order; drawing one (about 40 us of text layout) is all CPU
// and needs nothing of the others; and at Close the input is over, so
// the cores are free: the 7,442 cards of the bench capture take half
// the time on two. With one core (GOMAXPROCS 1) it draws each as it
// comes.
type drawer struct {
	out     *sink
	draw    func(b []byte, f *heuristics.Finding) []byte // appends f's block; safe to call concurrently
	jobs    chan *drawJob                                // to the drawing goroutines; nil: draw inline
	pending []*drawJob                                   // in order, not yet written
	free    []*drawJob
	buf     []byte // inline drawing's
}

// drawJob is one block to draw: a copy of its finding, and the block
// once done is closed.
type drawJob struct {
	f    heuristics.Finding
	out  []byte
	done chan struct{}
}

// newDrawer gives a drawer writing to out what draw draws.
func newDrawer(out *sink, draw func(b []byte, f *heuristics.Finding) []byte) *drawer {
	d := &drawer{out: out, draw: draw}
	if n := runtime.GOMAXPROCS(0); n > 1 {
		d.jobs = make(chan *drawJob, cardsAhead)
		for range n {
			go func() {
				for j := range d.jobs {
					j.out = draw(j.out[:0], &j.f)
					close(j.done)
				}
			}()
		}
	}
	return d
}

// add draws f's block (f is valid during the call only) and writes the
// blocks drawn before it.
func (d *drawer) add(f *heuristics.Finding) {
	if d.jobs == nil {
		d.buf = d.draw(d.buf[:0], f)
		d.out.write(d.buf)
		return
	}
	if len(d.pending) == cardsAhead {
		d.writeFirst()
	}
	var j *drawJob
	if n := len(d.free); n > 0 {
		j, d.free = d.free[n-1], d.free[:n-1]
	} else {
		j = new(drawJob)
	}
	j.f, j.done = *f, make(chan struct{})
	d.pending = append(d.pending, j)
	d.jobs <- j
}

// writeFirst waits for the first pending block and writes it.
func (d *drawer) writeFirst() {
	j := d.pending[0]
	d.pending = d.pending[1:]
	<-j.done
	d.out.write(j.out)
	j.f = heuristics.Finding{}
	d.free = append(d.free, j)
}

// finish writes the blocks still pending and stops the drawing
// goroutines.
func (d *drawer) finish() {
	if d.jobs == nil {
		return
	}
	close(d.jobs)
	for len(d.pending) > 0 {
		d.writeFirst()
	}
}
