package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/rstscope/rstscope/capture"
	"github.com/rstscope/rstscope/correlate"
	"github.com/rstscope/rstscope/flows"
	"github.com/rstscope/rstscope/heuristics"
	"github.com/rstscope/rstscope/report"
)

// pipeline wires capture -> flows -> heuristics -> report for one run.
func pipeline(cfg *config, stdout, stderr io.Writer, stop <-chan struct{}) error {
	src, inputs, err := openSource(cfg)
	if err != nil {
		return err
	}
	defer src.Close()

	if cfg.output != "" && cfg.output != "-" {
		if err := refuseInput("-o", cfg.output, cfg.reads); err != nil {
			return err
		}
	}
	out, closeOut, err := openOutput(cfg.output, stdout)
	if err != nil {
		return err
	}
	w, err := report.New(cfg.format, out, report.Options{
		Color:  !cfg.noColor && isTerminal(out),
		Stream: cfg.iface != "",
	})
	if err != nil {
		closeOut()
		return err
	}
	exp, err := newExporter(cfg, src)
	if err != nil {
		closeOut()
		return err
	}
	// -Z as tcpdump does it, but after the report and -w files are open
	// too, so that they can go where root may write; only root drops.
	if cfg.user != "" && os.Geteuid() == 0 {
		if err := capture.DropPrivileges(cfg.user); err != nil {
			closeOut()
			exp.abort()
			return err
		}
	}
	if cfg.iface != "" {
		// tcpdump's line: the device is open, the filter set, root dropped.
		lt := 0
		if l, ok := src.(capture.LinkTyper); ok && len(l.LinkTypes()) == 1 {
			lt = l.LinkTypes()[0]
		}
		fmt.Fprintf(stderr, "rstscope: listening on %s, link-type %d, snapshot length %d bytes\n", cfg.iface, lt, cfg.snaplen)
	}

	var peer *correlate.Peer
	if cfg.peer != "" {
		if peer, err = correlate.Load(cfg.peer, correlate.Options{LookAhead: cfg.lookAhead}); err != nil {
			closeOut()
			exp.abort()
			return err
		}
	}
	engine := &heuristics.Engine{Idle: cfg.idle}
	var witnesses []heuristics.Witness
	if peer != nil {
		witnesses = append(witnesses, peer)
	}
	var findings, filtered uint64
	var warnings []string
	opts := flows.Options{
		LookAhead: cfg.lookAhead,
		MaxFlows:  cfg.maxFlows,
		// Time jumps (a record stamped decades off, a clock step) are
		// re-based by the table and reported here, frame first.
		OnWarning: func(msg string) {
			warnings = append(warnings, msg)
			fmt.Fprintf(stderr, "rstscope: warning: %s\n", msg)
		},
		OnEvent: func(ev *flows.Event) {
			f := engine.Judge(ev, witnesses...)
			if !cfg.keep.Keep(&f) {
				filtered++
				return
			}
			findings++
			exp.mark(ev)
			w.Write(&f) // a Writer keeps its first error for Close
		},
	}
	table := newTracker(cfg, opts)

	done := make(chan struct{})
	defer close(done)
	var stopped atomic.Bool
	go stopOn(stop, cfg.duration, done, &stopped, src, cfg.iface != "")

	prog := newProgress(stderr, cfg.iface == "", src)
	// A live source returns capture.ErrTimeout when the link is quiet; the
	// table is then flushed to the source's packet-time clock, so that a
	// finding is decided once its look-ahead has passed even if no later
	// packet comes (capture.Clock says why that is still packet time).
	clock, _ := src.(capture.Clock)
	var p capture.Packet
	for n := uint64(0); (cfg.count == 0 || n < cfg.count) && !stopped.Load(); {
		err := src.Next(&p)
		if err == capture.ErrTimeout {
			if clock != nil {
				table.Flush(clock.Now())
			}
			continue
		}
		if err == io.EOF {
			break
		}
		if errors.Is(err, capture.ErrTruncated) {
			warnings = append(warnings, err.Error())
			fmt.Fprintf(stderr, "rstscope: warning: %v (findings up to the cut are reported)\n", err)
			break
		}
		if err != nil {
			closeOut()
			exp.abort()
			return err
		}
		if peer != nil {
			peer.Observe(&p)
		}
		table.Add(&p)
		if err := exp.packet(&p); err != nil {
			closeOut()
			exp.abort() // no silent half-file
			return err
		}
		prog.tick(&p)
		n++
	}
	prog.done()
	if clock != nil {
		table.Flush(clock.Now()) // what is due is decided as on a quiet link
	}
	table.Close()

	st := src.Stats()
	ts := table.Stats()
	if st.KernelDrops+st.IfaceDrops > 0 {
		msg := fmt.Sprintf("%d packets dropped by the kernel and %d by the interface: findings may miss resets (a narrower BPF filter, a larger -B or a smaller -s helps)", st.KernelDrops, st.IfaceDrops)
		warnings = append(warnings, msg)
		fmt.Fprintf(stderr, "rstscope: warning: %s\n", msg)
	}
	if ts.EndedEarly > 0 {
		msg := fmt.Sprintf("%d flows were ended early to make room: --max-flows %d reached (half-open, closed or idle flows go first)", ts.EndedEarly, cfg.maxFlows)
		warnings = append(warnings, msg)
		fmt.Fprintf(stderr, "rstscope: warning: %s\n", msg)
	}
	if ts.DroppedFlows > 0 {
		msg := fmt.Sprintf("%d flows were not tracked: --max-flows %d reached (their RSTs are still reported, with less context)", ts.DroppedFlows, cfg.maxFlows)
		warnings = append(warnings, msg)
		fmt.Fprintf(stderr, "rstscope: warning: %s\n", msg)
	}
	if cfg.verbose {
		for _, fe := range st.FirstErrors {
			fmt.Fprintf(stderr, "rstscope: %s: frame %d: %s\n", inputs[fe.Input], fe.Index, fe.Err)
		}
	}
	sum := report.Summary{
		Tool: "rstscope", Version: version, Inputs: inputs,
		First: st.FirstTime, Last: st.LastTime, Warnings: warnings,
		Stats: report.Stats{
			Packets: st.Packets, TCPPackets: st.TCPPackets, TCPFlows: ts.Flows,
			RSTPackets: ts.RSTPackets, Findings: findings, Undecodable: st.Undecodable,
			TruncatedInput: st.Truncated, DroppedByKernel: st.KernelDrops, DroppedByInterface: st.IfaceDrops,
			DroppedFlows: ts.DroppedFlows, FlowsEndedEarly: ts.EndedEarly, Filtered: filtered,
		},
	}
	werr := w.Close(sum)
	cerr := closeOut()
	eerr := exp.close()
	return errors.Join(werr, cerr, eerr)
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
func openSource(cfg *config) (capture.Source, []string, error) {
	if cfg.iface != "" {
		src, err := capture.OpenLive(cfg.iface, capture.LiveOptions{
			Snaplen: cfg.snaplen, Promisc: !cfg.noPromisc, Immediate: true, Filter: cfg.filter,
			BufferSize: cfg.bufferKiB * 1024,
		})
		if err != nil {
			return nil, nil, err
		}
		return src, []string{cfg.iface}, nil
	}
	src, err := capture.OpenFiles(cfg.reads, capture.FileOptions{Filter: cfg.filter, Stdin: cfg.stdin})
	if err != nil {
		return nil, nil, err
	}
	return capture.Prefetch(src), cfg.reads, nil
}

// openOutput returns the report destination and a function closing it.
func openOutput(path string, stdout io.Writer) (io.Writer, func() error, error) {
	if path == "" || path == "-" {
		return stdout, func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, fmt.Errorf("output: %w", err)
	}
	closed := false
	return f, func() error {
		if closed {
			return nil
		}
		closed = true
		if err := f.Close(); err != nil {
			return fmt.Errorf("output: %w", err)
		}
		return nil
	}, nil
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
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
