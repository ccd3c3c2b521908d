package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/rstscope/rstscope/capture"
	"github.com/rstscope/rstscope/correlate"
	"github.com/rstscope/rstscope/flows"
	"github.com/rstscope/rstscope/heuristics"
	"github.com/rstscope/rstscope/report"
)

// pipeline is one run: capture -> flows -> heuristics -> report, and -w.
type pipeline struct {
	cfg                *config
	stderr             io.Writer
	src                capture.Source
	inputs             []string
	outF, wF           *capture.Output // -o and -w files; nil for stdout or none
	w                  report.Writer
	exp                *capture.Exporter
	peer               *correlate.Peer
	table              *flows.Table
	findings, filtered uint64
	warnings           []string
}

// runPipeline opens, reads and finishes; one deferred cleanup releases
// whatever a failure left open and removes half-written files.
func runPipeline(cfg *config, stdout, stderr io.Writer, stop <-chan struct{}) error {
	p := &pipeline{cfg: cfg, stderr: stderr}
	defer func() {
		if p.src != nil {
			p.src.Close()
		}
		p.exp.Abort()
		p.wF.Abort() // no-ops for files finish closed
		p.outF.Abort()
	}()
	if err := p.open(stdout); err != nil {
		return err
	}
	return p.finish(p.read(stop))
}

// open opens the input, the outputs and the peer capture, then drops
// privileges (-Z).
func (p *pipeline) open(stdout io.Writer) (err error) {
	cfg := p.cfg
	if p.src, p.inputs, err = openSource(cfg); err != nil {
		return err
	}
	for _, o := range []struct{ flag, path string }{{"-o", cfg.output}, {"-w", cfg.writeFile}} {
		if err := refuseInput(o.flag, o.path, cfg.reads); err != nil {
			return err
		}
	}
	out := stdout
	if cfg.output != "" && cfg.output != "-" {
		if p.outF, err = capture.CreateOutput("output", cfg.output); err != nil {
			return err
		}
		out = p.outF
	}
	if p.w, err = report.New(cfg.format, out, report.Options{Color: !cfg.noColor && isTerminal(out), Stream: cfg.iface != ""}); err != nil {
		return err
	}
	if cfg.writeFile != "" {
		if p.wF, err = capture.CreateOutput("-w", cfg.writeFile); err != nil {
			return err
		}
		opts := capture.ExportOptions{All: cfg.writeAll, Filter: cfg.filter}
		if lt, ok := p.src.(capture.LinkTyper); ok {
			opts.LinkTypes = lt.LinkTypes()
		}
		if cfg.iface == "" && !slices.Contains(cfg.reads, "-") {
			opts.Reread = cfg.reads
		}
		if p.exp, err = capture.NewExporter(p.wF, opts); err != nil {
			return err
		}
	}
	// -Z as tcpdump does it, but after the report and -w files are open
	// too, so that they can go where root may write; only root drops.
	if cfg.user != "" && os.Geteuid() == 0 {
		if err := capture.DropPrivileges(cfg.user); err != nil {
			return err
		}
	}
	if cfg.iface != "" {
		// tcpdump's line: the device is open, the filter set, root dropped.
		fmt.Fprintf(p.stderr, "rstscope: listening on %s, link-type %d, snapshot length %d bytes\n", cfg.iface, p.src.(capture.LinkTyper).LinkTypes()[0], cfg.snaplen)
	}
	if cfg.peer != "" {
		if p.peer, err = correlate.Load(cfg.peer, correlate.Options{LookAhead: cfg.lookAhead}); err != nil {
			return err
		}
	}
	engine := &heuristics.Engine{Idle: cfg.idle}
	p.table = flows.NewTable(flows.Options{LookAhead: cfg.lookAhead, MaxFlows: cfg.maxFlows, OnEvent: func(ev *flows.Event) {
		f := engine.Judge(ev)
		if p.peer != nil {
			p.peer.Apply(ev, &f)
		}
		if !cfg.keep.Keep(&f) {
			p.filtered++
			return
		}
		p.findings++
		p.exp.Mark(ev.Flow.Client, ev.Flow.Server)
		p.w.Write(&f) // a Writer keeps its first error for Close
	}})
	return nil
}

// read feeds packets to the table until the input ends, -c or --duration
// is reached, or stop fires. It returns the error that ended the input.
func (p *pipeline) read(stop <-chan struct{}) error {
	cfg := p.cfg
	done := make(chan struct{})
	defer close(done)
	var stopped atomic.Bool
	go stopOn(stop, cfg.duration, done, &stopped, p.src, cfg.iface != "")
	prog := newProgress(p.stderr, cfg.iface == "")
	defer prog.done()
	// A live source returns capture.ErrTimeout when the link is quiet; the
	// table is then flushed to the source's packet-time clock, so that a
	// finding is decided once its look-ahead has passed even if no later
	// packet comes (capture.Clock says why that is still packet time).
	clock, _ := p.src.(capture.Clock)
	var pk capture.Packet
	for n := uint64(0); (cfg.count == 0 || n < cfg.count) && !stopped.Load(); {
		switch err := p.src.Next(&pk); {
		case err == capture.ErrTimeout:
			if clock != nil {
				p.table.Flush(clock.Now())
			}
			continue
		case err == io.EOF:
			return nil
		case errors.Is(err, capture.ErrTruncated):
			p.warn("%v (findings up to the cut are reported)", err)
			return nil
		case err != nil:
			return err
		}
		if p.peer != nil {
			p.peer.Observe(&pk)
		}
		p.table.Add(&pk)
		if err := p.exp.Packet(&pk); err != nil {
			return err
		}
		prog.tick(&pk)
		n++
	}
	return nil
}

// finish decides what is pending, closes -w, then writes the report's
// end: the -w file is complete before the last write to stdout.
func (p *pipeline) finish(readErr error) error {
	cfg := p.cfg
	if clock, ok := p.src.(capture.Clock); ok {
		p.table.Flush(clock.Now()) // what is due is decided as on a quiet link
	}
	p.table.Close()
	st, ts := p.src.Stats(), p.table.Stats()
	if st.KernelDrops+st.IfaceDrops > 0 {
		p.warn("%d packets dropped by the kernel and %d by the interface: findings may miss resets (a narrower BPF filter, a larger -B or a smaller -s helps)", st.KernelDrops, st.IfaceDrops)
	}
	if ts.EndedEarly > 0 {
		p.warn("%d flows were ended early to make room: --max-flows %d reached (half-open, closed or idle flows go first)", ts.EndedEarly, cfg.maxFlows)
	}
	if ts.DroppedFlows > 0 {
		p.warn("%d flows were not tracked: --max-flows %d reached (their RSTs are still reported, with less context)", ts.DroppedFlows, cfg.maxFlows)
	}
	if cfg.verbose {
		for _, fe := range st.FirstErrors {
			fmt.Fprintf(p.stderr, "rstscope: %s: frame %d: %s\n", p.inputs[fe.Input], fe.Index, fe.Err)
		}
	}
	errs := []error{readErr, p.exp.Close()}
	if errs[1] == nil {
		errs = append(errs, p.wF.Close())
	}
	errs = append(errs, p.w.Close(report.Summary{
		Tool: "rstscope", Version: version, Inputs: p.inputs, First: st.FirstTime, Last: st.LastTime, Warnings: p.warnings,
		Stats: report.Stats{
			Packets: st.Packets, TCPPackets: st.TCPPackets, TCPFlows: ts.Flows, RSTPackets: ts.RSTPackets,
			Findings: p.findings, Undecodable: st.Undecodable, TruncatedInput: st.Truncated, DroppedByKernel: st.KernelDrops,
			DroppedByInterface: st.IfaceDrops, DroppedFlows: ts.DroppedFlows, FlowsEndedEarly: ts.EndedEarly, Filtered: p.filtered,
		},
	}))
	if errs[len(errs)-1] == nil {
		errs = append(errs, p.outF.Close())
	}
	for _, err := range errs {
		if err != nil {
			return err // the first; the deferred cleanup removes half-files
		}
	}
	return nil
}

// warn prints a warning on stderr and keeps it for the report.
func (p *pipeline) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.warnings = append(p.warnings, msg)
	fmt.Fprintf(p.stderr, "rstscope: warning: %s\n", msg)
}

// openSource opens the files or the live interface.
func openSource(cfg *config) (capture.Source, []string, error) {
	if cfg.iface != "" {
		src, err := capture.OpenLive(cfg.iface, capture.LiveOptions{
			Snaplen: cfg.snaplen, Promisc: !cfg.noPromisc, Immediate: true, Filter: cfg.filter, BufferSize: cfg.bufferKiB * 1024,
		})
		return src, []string{cfg.iface}, err
	}
	src, err := capture.OpenFiles(cfg.reads, capture.FileOptions{Filter: cfg.filter, Stdin: cfg.stdin})
	if err != nil {
		return nil, nil, err
	}
	return capture.Prefetch(src), cfg.reads, nil
}

// refuseInput stops -w or -o (flag) from overwriting one of the inputs.
func refuseInput(flag, out string, inputs []string) error {
	oi, err := os.Stat(out)
	if out == "" || out == "-" || err != nil {
		return nil // does not exist yet
	}
	for _, in := range inputs {
		if ii, err := os.Stat(in); err == nil && os.SameFile(oi, ii) {
			return fmt.Errorf("%s %s is also an input: refusing to overwrite it", flag, out)
		}
	}
	return nil
}

// stopOn ends the read loop when stop fires or after d (if non-zero): it
// sets stopped, and for a live source also closes it so that a blocked Next
// returns io.EOF. Pending findings are then decided as at end of input.
func stopOn(stop <-chan struct{}, d time.Duration, done <-chan struct{}, stopped *atomic.Bool, src capture.Source, live bool) {
	var timeout <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-stop:
	case <-timeout:
	case <-done:
		return
	}
	stopped.Store(true)
	if live {
		src.Close()
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Stat() (os.FileInfo, error) })
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
