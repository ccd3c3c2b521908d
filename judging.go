package main

import (
	"sync/atomic"

	"github.com/rstscope/rstscope/flows"
	"github.com/rstscope/rstscope/heuristics"
)

// judging runs the engine and the report's Write on goroutines of their
// own, one each, so that judging an event and writing its finding (tens of
// microseconds: the rules, the evidence's text, a spilled record's JSON)
// do not hold up the flow table's goroutine, which bounds a file read's
// speed, nor each other: on a capture of RSTs (a port scan: 300,000
// findings) judging and writing were each a fifth of the run's CPU, and
// one goroutine doing both bounded the run. Events go to them as copies,
// in order, so the report gets the findings in the order OnEvent would
// have given them; what the reader's goroutine keeps (the counters, the
// sensor's tally, a reader gone away) comes back in the same order and is
// recorded by poll a few packets later. Used only where that delay
// changes nothing: a file read with no other witness (--peer, the
// kernel's account, whose state moves with the packets read) and no -w
// (which marks flows as they are read).
type judging struct {
	in     chan *judgedEvent // events to judge
	judged chan *judgedEvent // judged, in order, to write; closed after in is
	out    chan *judgedEvent // written, in order; closed after judged is
	free   chan *judgedEvent
	record func(f *heuristics.Finding, kept bool, err error)
	// queued counts the events handed over (event) and not yet taken
	// by the writing goroutine, which holds while others are behind
	// the one it writes.
	queued atomic.Int64
}

// judgedEvent is an event, its finding, whether the filter kept it and
// what the report's Write returned.
type judgedEvent struct {
	ev   flows.Event
	f    heuristics.Finding
	kept bool
	err  error
}

// judgeAhead is how many events may be with the judging and writing
// goroutines or waiting to be recorded.
const judgeAhead = 64

// startJudging starts the goroutines: judge fills f from ev and says
// whether the filter keeps it, write writes a kept finding (hold: more
// are queued, so its bytes may wait for theirs, report.WriteHeld),
// release writes what the writes with hold kept, and record sees each
// result on the caller's goroutine.
//
// The writing goroutine holds only while other events handed over are
// behind the finding it writes (waiting to be judged, being judged or
// written), and releases when it takes the last of them: it never waits
// for more with a finding unwritten, so a finding is as prompt as
// before, and a run of them is one write.
func startJudging(judge func(ev *flows.Event, f *heuristics.Finding) (kept bool),
	write func(f *heuristics.Finding, hold bool) error, release func() error,
	record func(f *heuristics.Finding, kept bool, err error)) *judging {
	j := &judging{in: make(chan *judgedEvent, judgeAhead), judged: make(chan *judgedEvent, judgeAhead),
		out: make(chan *judgedEvent, judgeAhead), free: make(chan *judgedEvent, judgeAhead), record: record}
	for range judgeAhead {
		j.free <- new(judgedEvent)
	}
	go func() {
		defer close(j.judged)
		for x := range j.in {
			x.kept = judge(&x.ev, &x.f)
			j.judged <- x
		}
	}()
	go func() {
		defer close(j.out)
		held := false
		for x := range j.judged {
			// Handed over after x (judged, being judged or waiting to
			// be): each comes here too, kept or not.
			more := j.queued.Add(-1) > 0
			switch {
			case x.kept:
				x.err, held = write(&x.f, more), more
			case held && !more:
				x.err, held = release(), false
			}
			j.out <- x
		}
	}()
	return j
}

// event hands a copy of ev over (the table reuses ev); while every slot
// is taken it records what was judged meanwhile.
func (j *judging) event(ev *flows.Event) {
	for {
		select {
		case x := <-j.free:
			x.ev = *ev
			j.queued.Add(1)
			j.in <- x
			return
		case x := <-j.out:
			j.done(x)
		}
	}
}

// done records x and frees its slot.
func (j *judging) done(x *judgedEvent) {
	j.record(&x.f, x.kept, x.err)
	x.f, x.err = heuristics.Finding{}, nil
	j.free <- x
}

// pollEvery is how many packets pass between two looks at what was
// judged (a look is a runtime call), and between two sensor ticks.
const pollEvery = 64

// poll records the findings judged so far (nil j: none); the read loop
// calls it every pollEvery packets.
func (j *judging) poll() {
	if j != nil {
		j.drain()
	}
}

// drain records the findings judged so far.
func (j *judging) drain() {
	for len(j.out) > 0 {
		j.done(<-j.out)
	}
}

// close waits for the events handed over and records them (nil j: none).
func (j *judging) close() {
	if j == nil {
		return
	}
	close(j.in)
	for x := range j.out {
		j.done(x)
	}
}
