package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
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
	outF               *capture.Output // -o; nil for stdout
	w                  report.Writer
	exp                exportWriter // -w: capture.Exporter or the sensor's Recorder
	sens               *sensor      // metrics, SIGUSR1
	peer               *correlate.Peer
	table              tracker
	findings, filtered uint64
	warnings           []string
	readerGone         bool // the report's reader went away (EPIPE)
}

// runPipeline opens, reads and finishes; one deferred cleanup releases
// whatever a failure left open and removes half-written files.
func runPipeline(cfg *config, stdout, stderr io.Writer, stop <-chan struct{}) error {
	p := &pipeline{cfg: cfg, stderr: stderr}
	done := make(chan struct{})
	stop = capture.StopAfter(stop, cfg.duration, done)
	defer func() {
		close(done)
		if p.src != nil {
			p.src.Close()
		}
		if p.exp != nil {
			p.exp.Abort() // no-ops for files finish closed
		}
		p.outF.Abort()
		if p.sens != nil {
			p.sens.close()
		}
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
	if p.src, err = capture.Interruptible(stop, strings.TrimSpace(strings.Join(cfg.reads, " ")+" "+cfg.iface), func() (capture.Source, error) { return openSource(cfg) }); err != nil {
		return err
	}
	var progress io.Writer // a terminal, for a progress line while files are read
	if isTerminal(p.stderr) {
		progress = p.stderr
	}
	p.src, p.inputs = capture.Follow(p.src, stop, progress), cfg.reads
	if cfg.iface != "" {
		p.inputs = []string{cfg.iface}
	}
	for _, o := range []struct{ flag, path string }{{"-o", cfg.output}, {"-w", cfg.writeFile}} {
		if err := capture.RefuseOverwrite(o.flag, o.path, cfg.reads); err != nil {
			return err
		}
	}
	out := stdout
	if cfg.writeFile == "-" {
		out = p.stderr // -w - writes the pcap to stdout, the report goes to stderr
	}
	if p.outF, err = capture.CreateOutput("output", cfg.output, stop); err != nil {
		return err
	} else if p.outF != nil {
		out = p.outF
	}
	if p.w, err = report.New(cfg.format, out, report.Options{Color: !cfg.noColor && isTerminal(out), Stream: cfg.iface != "", Location: cfg.location, Observer: observer(cfg)}); err != nil {
		return err
	}
	dropping := cfg.user != "" && os.Geteuid() == 0
	if p.exp, err = openExport(cfg, p.src, stdout, stop, dropping); err != nil {
		return err
	}
	// Metrics listen before -Z, so that a port below 1024 works.
	if p.sens, err = startSensor(cfg, p.stderr, p.exp); err != nil {
		return err
	}
	// -Z as tcpdump does it, but after the report, -w and --peer files are
	// open too, so that they can be where only root may go; only root drops.
	if cfg.peer != "" {
		if p.peer, err = capture.Interruptible(stop, cfg.peer, func() (*correlate.Peer, error) {
			return correlate.Load(cfg.peer, correlate.Options{LookAhead: cfg.lookAhead})
		}); err != nil {
			return err
		}
	}
	if dropping {
		if err := capture.DropPrivileges(cfg.user); err != nil {
			return err
		}
	}
	if cfg.iface != "" {
		// tcpdump's line: the device is open, the filter set, root dropped.
		fmt.Fprintf(p.stderr, "rstscope: listening on %s, link-type %d, snapshot length %d bytes\n", cfg.iface, p.src.(capture.LinkTyper).LinkTypes()[0], cfg.snaplen)
	}
	engine := &heuristics.Engine{Idle: cfg.idle}
	var witnesses []heuristics.Witness // other vantage points, weighed in the engine's combine step
	if p.peer != nil {
		witnesses = append(witnesses, p.peer)
	}
	p.table = newTracker(cfg, flows.Options{LookAhead: cfg.lookAhead, MaxFlows: cfg.maxFlows,
		// Time jumps (a record stamped decades off, a clock step) are
		// re-based by the table and reported here, frame first.
		OnWarning: func(msg string) { p.warn("%s", msg) },
		OnEvent: func(ev *flows.Event) {
			f := engine.Judge(ev, witnesses...)
			kept := cfg.keep.Keep(&f)
			p.sens.judged(&f, kept)
			if !kept {
				p.filtered++
				return
			}
			p.findings++
			p.exp.Mark(ev.Flow.Client, ev.Flow.Server)
			if err := p.w.Write(&f); errors.Is(err, syscall.EPIPE) {
				p.readerGone = true // stop reading; -w is still completed
			}
		}})
	return nil
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
	var pk capture.Packet
	for n := uint64(0); (p.cfg.count == 0 || n < p.cfg.count) && !p.readerGone; {
		switch err := p.src.Next(&pk); {
		case err == capture.ErrTimeout:
			p.table.Flush(clock.Now())
			if err := p.sens.quiet(p.src, p.table); err != nil {
				return err
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
		p.sens.tick(p.src, p.table)
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
	expErr := p.exp.Close() // -w is complete before the report's last write
	werr := p.w.Close(report.Summary{
		Tool: "rstscope", Version: version, Inputs: p.inputs, First: st.FirstTime, Last: st.LastTime, Warnings: p.warnings, Filter: cfg.keep.String(),
		Stats: report.Stats{
			Packets: st.Packets, TCPPackets: st.TCPPackets, TCPFlows: ts.Flows, RSTPackets: ts.RSTPackets,
			Findings: p.findings, Undecodable: st.Undecodable, TruncatedInput: st.Truncated, DroppedByKernel: st.KernelDrops,
			DroppedByInterface: st.IfaceDrops, DroppedFlows: ts.DroppedFlows, FlowsEndedEarly: ts.EndedEarly, Filtered: p.filtered,
		},
	})
	var cerr error
	if werr == nil {
		cerr = p.outF.Close()
	}
	return cmp.Or(readErr, expErr, werr, cerr) // the first; the deferred cleanup removes half-files
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

// newTracker gives the flow table: sharded over --shards goroutines for
// files (events still arrive in order, on this goroutine), one Table for
// live captures, which are flushed as the link goes quiet.
func newTracker(cfg *config, opts flows.Options) tracker {
	if cfg.iface != "" || cfg.shards <= 1 {
		return flows.NewTable(opts)
	}
	return flows.NewSharded(cfg.shards, opts)
}

// openSource opens the files or the live interface.
func openSource(cfg *config) (capture.Source, error) {
	if cfg.iface != "" {
		return capture.OpenLive(cfg.iface, capture.LiveOptions{
			Snaplen: cfg.snaplen, Promisc: !cfg.noPromisc, Immediate: true, Filter: cfg.filter, BufferSize: cfg.bufferKiB * 1024,
		})
	}
	src, err := capture.OpenFiles(cfg.reads, capture.FileOptions{Filter: cfg.filter, Stdin: cfg.stdin})
	if err != nil {
		return nil, err
	}
	return capture.Prefetch(src), nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Stat() (os.FileInfo, error) })
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
