package main

import (
	"github.com/rstscope/rstscope/flows"
	"github.com/rstscope/rstscope/heuristics"
)

// judging runs the engine on a goroutine of its own, so that judging an
// event (tens of microseconds: the rules, the evidence's text) does not
// hold up the flow table's goroutine, which bounds a file read's speed.
// Events go to it as copies, in order; their findings come back in the
// same order and are recorded (counted, written) on the table's
// goroutine by poll, as OnEvent would have, so that the report and the
// counters see exactly what a judgement inside OnEvent gives, a few
// packets later. Used only where that delay changes nothing: a file read
// with no other witness (--peer, the kernel's account, whose state moves
// with the packets read) and no -w (which marks flows as they are read).
type judging struct {
	in     chan *judgedEvent // events to judge
	out    chan *judgedEvent // judged, in order; closed after in is
	free   chan *judgedEvent
	record func(ev *flows.Event, f *heuristics.Finding, kept bool)
}

// judgedEvent is an event, its finding, and whether the filter keeps it.
type judgedEvent struct {
	ev   flows.Event
	f    heuristics.Finding
	kept bool
}

// judgeAhead is how many events may be with the judging goroutine or
// waiting to be recorded.
const judgeAhead = 64

// startJudging starts the goroutine: judge fills f from ev and reports
// whether the filter keeps it; record sees each result on the caller's
// goroutine.
func startJudging(judge func(ev *flows.Event, f *heuristics.Finding) bool,
	record func(ev *flows.Event, f *heuristics.Finding, kept bool)) *judging {
	j := &judging{in: make(chan *judgedEvent, judgeAhead), out: make(chan *judgedEvent, judgeAhead),
		free: make(chan *judgedEvent, judgeAhead), record: record}
	for range judgeAhead {
		j.free <- new(judgedEvent)
	}
	go func() {
		defer close(j.out)
		for x := range j.in {
			x.kept = judge(&x.ev, &x.f)
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
			j.in <- x
			return
		case x := <-j.out:
			j.done(x)
		}
	}
}

// done records x and frees its slot.
func (j *judging) done(x *judgedEvent) {
	j.record(&x.ev, &x.f, x.kept)
	x.f = heuristics.Finding{}
	j.free <- x
}

// poll records the findings judged so far (nil j: none).
func (j *judging) poll() {
	if j == nil {
		return
	}
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
