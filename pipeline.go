package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"syscall"
	"time"

	"github.com/rstscope/rstscope/capture"
	"github.com/rstscope/rstscope/correlate"
	"github.com/rstscope/rstscope/flows"
	"github.com/rstscope/rstscope/heuristics"
	"github.com/rstscope/rstscope/internal/cli"
	"github.com/rstscope/rstscope/report"
)

// pipeline is one run: capture -> flows -> heuristics -> report, and -w.
type pipeline struct {
	cfg                *cli.Config
	stderr             io.Writer
	src                capture.Source
	inputs             []string
	outF               *capture.Output // -o; nil for stdout
	w                  report.Writer
	exp                cli.Export  // -w: capture.Exporter or the sensor's Recorder
	sens               *cli.Sensor // metrics, SIGUSR1
	peer               *correlate.Peer
	kern               *cli.Kernel // the host kernel's account (--kernel-reasons, --kernel-events); nil without
	table              tracker
	judge              *judging // nil: events are judged as the table emits them
	findings, filtered uint64
	warnings           []string
	readerGone         bool // the report's reader went away (EPIPE)
}

// runPipeline opens, reads and finishes; one deferred cleanup releases
// whatever a failure left open and removes half-written files.
func runPipeline(cfg *cli.Config, stdout, stderr io.Writer, stop <-chan struct{}) error {
	p := &pipeline{cfg: cfg, stderr: stderr}
	done := make(chan struct{})
	stop = capture.StopAfter(stop, cfg.Duration, done)
	defer func() {
		close(done)
		if p.src != nil {
			p.src.Close()
		}
		if p.exp != nil {
			p.exp.Abort() // no-ops for files finish closed
		}
		p.outF.Abort()
		p.sens.Close()
		p.kern.Close()
	}()
	if err := p.open(stdout, stop); err != nil {
		return err
	}
	return p.finish(p.read())
}

// open opens the input, the outputs and the peer capture, then drops
// privileges (-Z).
func (p *pipeline) open(stdout io.Writer, stop <-chan struct{}) (err error) {
	cfg := p.cfg
	if p.src, p.inputs, err = cfg.OpenInput(stop, p.stderr); err != nil {
		return err
	}
	if p.w, p.outF, err = cfg.OpenReport(stdout, p.stderr, stop); err != nil {
		return err
	}
	if p.exp, err = cfg.OpenExport(p.src, stdout, stop); err != nil {
		return err
	}
	// Metrics listen before -Z, so that a port below 1024 works.
	if p.sens, err = cfg.StartSensor(p.stderr, p.exp); err != nil {
		return err
	}
	// -Z as tcpdump does it, but after the report, -w and --peer files are
	// open too, so that they can be where only root may go; only root drops.
	if p.peer, err = cfg.LoadPeer(stop); err != nil {
		return err
	}
	// The kernel's account (a BPF program) opens while root, before -Z.
	if p.kern, err = cfg.OpenKernel(p.stderr); err != nil {
		return err
	}
	p.sens.Watch(p.kern)
	if err := cfg.DropPrivileges(); err != nil {
		return err
	}
	cfg.Listening(p.stderr, p.src) // tcpdump's line, once root is dropped
	engine := &heuristics.Engine{Idle: cfg.Idle}
	var witnesses []heuristics.Witness // other vantage points, weighed in the engine's combine step
	if p.peer != nil {
		witnesses = append(witnesses, p.peer)
	}
	if kw := p.kern.Witness(); kw != nil {
		witnesses = append(witnesses, kw)
	}
	p.table = newTracker(cfg, flows.Options{LookAhead: cfg.LookAhead, MaxFlows: cfg.MaxFlows, HotFlows: cfg.HotFlows, IdleEvict: cfg.IdleEvict,
		// Time jumps (a record stamped decades off, a clock step) are
		// re-based by the table and reported here, frame first.
		OnWarning: func(msg string) { p.warn("%s", msg) },
		// -w's Recorder lets a flow's held packets go with the flow.
		OnFlowEnd: cli.FlowEnds(p.exp),
		OnEvent: func(ev *flows.Event) {
			if p.judge != nil {
				p.judge.event(ev)
				return
			}
			f := engine.Judge(ev, witnesses...)
			p.kern.Judged(&f, cfg.LookAhead)
			kept := cfg.Keep.Keep(&f)
			p.count(&f, kept)
			if kept {
				p.exp.Mark(ev.Flow.Client, ev.Flow.Server)
				p.wrote(p.w.Write(&f))
			}
		}})
	// A file read whose findings need no other witness and mark nothing
	// for -w is judged, and written, on goroutines of their own (see
	// judging).
	if cfg.Iface == "" && cfg.WriteFile == "" && len(witnesses) == 0 && p.kern == nil {
		p.judge = startJudging(func(ev *flows.Event, f *heuristics.Finding) bool {
			*f = engine.Judge(ev)
			return cfg.Keep.Keep(f)
		}, func(f *heuristics.Finding, hold bool) error {
			if hold {
				return report.WriteHeld(p.w, f)
			}
			return p.w.Write(f)
		}, func() error { return report.Release(p.w) }, func(f *heuristics.Finding, kept bool, err error) {
			p.count(f, kept)
			p.wrote(err)
		})
	}
	return nil
}

// count counts a judged event's finding, kept by the filter or not.
func (p *pipeline) count(f *heuristics.Finding, kept bool) {
	p.sens.Judged(f, kept)
	if kept {
		p.findings++
	} else {
		p.filtered++
	}
}

// wrote takes note of the report's answer to a finding.
func (p *pipeline) wrote(err error) {
	if errors.Is(err, syscall.EPIPE) {
		p.readerGone = true // stop reading; -w is still completed
	}
}

// read feeds packets to the table until the input ends (a signal or
// --duration ends it too, see capture.Follow) or -c is reached. It returns
// the error that ended the input.
func (p *pipeline) read() error {
	// A live source (or a live feed through a pipe) returns
	// capture.ErrTimeout when the link is quiet; the table is then flushed
	// to the source's packet-time clock, so that a finding is decided once
	// its look-ahead has passed even if no later packet comes
	// (capture.Clock says why that is still packet time).
	clock, _ := p.src.(capture.Clock)
	// A prefetched file hands out its packets where it holds them (no
	// copy of each on the flow table's core).
	ref, _ := p.src.(capture.Referencer)
	// Else a sharded table's batch takes the packet where it is decoded
	// (one copy of each less: flows.Sharded.Slot).
	slots, _ := p.table.(slotter)
	if ref != nil && !capture.HoldsPackets(p.src) && slots != nil {
		ref = nil
	}
	// The table as the sensor reads it, converted once: an interface
	// conversion per packet was 2-3% of this loop's core.
	var stats cli.Statser = p.table
	// Without -w, no call a packet to the nil Exporter behind the
	// interface (12 instructions a packet).
	exp := p.exp
	if e, ok := exp.(*capture.Exporter); ok && e == nil {
		exp = nil
	}
	// The sensor ticks every pollEvery packets of a file, every packet of
	// a live capture (or a live feed), so that SIGUSR1's summary comes at
	// the next packet however slow the link.
	tickMask := uint64(pollEvery - 1)
	if clock != nil {
		tickMask = 0
	}
	// A file read into a sharded table with nothing else to see each
	// packet (no -w, no peer capture) is pumped: the source's loop
	// decodes each packet into the table's slot and adds it, pollEvery
	// packets a call (capture.Pumper says why).
	pump, _ := p.src.(capture.Pumper)
	sink, _ := p.table.(capture.Sink)
	if pump != nil && sink != nil && ref == nil && clock == nil && exp == nil && p.peer == nil {
		return p.pumped(pump, sink, stats)
	}
	var own capture.Packet
	for n := uint64(0); (p.cfg.Count == 0 || n < p.cfg.Count) && !p.readerGone; {
		pk, err := &own, error(nil)
		switch {
		case ref != nil:
			pk, err = ref.NextRef()
		case slots != nil:
			pk = slots.Slot()
			err = p.src.Next(pk)
		default:
			err = p.src.Next(&own)
		}
		// Tested for nil first: errors.Is, even on a nil error, is a call
		// per packet on the flow table's core (1-2% of it on a big file).
		switch {
		case err == nil:
		case err == capture.ErrTimeout:
			p.table.Flush(clock.Now())
			if err := p.sens.Quiet(p.src, p.table); err != nil {
				return err
			}
			continue
		case err != nil:
			return p.inputEnd(err)
		}
		if p.peer != nil {
			p.peer.Observe(pk)
		}
		p.table.Add(pk)
		n++
		// The judged findings and (reading a file) the sensor are looked
		// at every pollEvery packets: calls a packet were 1.4% of the
		// run's instructions.
		if n%pollEvery == 0 {
			p.judge.poll()
		}
		if exp != nil {
			if err := exp.Packet(pk); err != nil {
				return err
			}
		}
		if n&tickMask == 0 {
			p.sens.Tick(p.src, stats, tickMask+1)
		}
	}
	return nil
}

// pumped is read's loop for a Pumper into a Sink: the same polls, ticks,
// -c and end of input, with the packets read pollEvery at a time.
func (p *pipeline) pumped(pump capture.Pumper, sink capture.Sink, stats cli.Statser) error {
	for n := uint64(0); (p.cfg.Count == 0 || n < p.cfg.Count) && !p.readerGone; {
		want := pollEvery - n%pollEvery
		if p.cfg.Count > 0 {
			want = min(want, p.cfg.Count-n)
		}
		k, err := pump.Pump(sink, int(want))
		n += uint64(k)
		if k > 0 && n%pollEvery == 0 {
			p.judge.poll()
			p.sens.Tick(p.src, stats, pollEvery)
		}
		if err != nil {
			return p.inputEnd(err)
		}
	}
	return nil
}

// inputEnd gives what read returns for the error that ended the input:
// nil at its end (a truncated capture with a warning: what it held is
// reported), the error otherwise.
func (p *pipeline) inputEnd(err error) error {
	switch {
	case err == io.EOF:
		return nil
	case errors.Is(err, capture.ErrTruncated):
		p.warn("%v (findings up to the cut are reported)", err)
		return nil
	}
	return err
}

// finish decides what is pending, closes -w, then writes the report's
// end: the -w file is complete before the last write to stdout.
func (p *pipeline) finish(readErr error) error {
	cfg := p.cfg
	kerr := p.kern.Stop() // every kernel event read is joinable before the last judgements
	if clock, ok := p.src.(capture.Clock); ok {
		p.table.Flush(clock.Now()) // what is due is decided as on a quiet link
	}
	p.table.Close()
	p.judge.close()
	st, ts := p.src.Stats(), p.table.Stats()
	for _, w := range cfg.Warnings(st, ts) {
		p.warn("%s", w)
	}
	for _, w := range p.kern.Warnings() {
		p.warn("%s", w)
	}
	cfg.FrameErrors(p.stderr, st, p.inputs) // -v
	expErr := p.exp.Close()                 // -w is complete before the report's last write
	stats := cli.Stats(st, ts, p.findings, p.filtered)
	stats.Kernel = p.kern.Stats()
	werr := p.w.Close(report.Summary{Tool: "rstscope", Version: cli.Version, Inputs: p.inputs, First: st.FirstTime, Last: st.LastTime,
		Warnings: p.warnings, Filter: cfg.Keep.String(), Stats: stats})
	var cerr error
	if werr == nil {
		cerr = p.outF.Close()
	}
	return cmp.Or(readErr, expErr, werr, cerr, kerr) // the first; the deferred cleanup removes half-files
}

// warn prints a warning on stderr and keeps it for the report.
func (p *pipeline) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.warnings = append(p.warnings, msg)
	fmt.Fprintf(p.stderr, "rstscope: warning: %s\n", msg)
}

// tracker is what the pipeline needs of flows.Table and flows.Sharded.
type tracker interface {
	Add(*capture.Packet)
	Flush(time.Time)
	Close()
	Stats() flows.TableStats
}

// slotter is a tracker that gives the packet to decode the next one into
// (flows.Sharded).
type slotter interface {
	Slot() *capture.Packet
}

// newTracker gives the flow table: sharded over --shards goroutines for
// files (events still arrive in order, on this goroutine), one Table for
// live captures, which are flushed as the link goes quiet. Shards end
// flows on their own goroutines, so they get no OnFlowEnd: a file's -w
// Recorder is then bounded by its limits alone.
func newTracker(cfg *cli.Config, opts flows.Options) tracker {
	if cfg.Iface != "" || cfg.Shards <= 1 {
		return flows.NewTable(opts)
	}
	opts.OnFlowEnd = nil
	return flows.NewSharded(cfg.Shards, opts)
}
