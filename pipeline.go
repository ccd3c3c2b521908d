package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/rstscope/rstscope/capture"
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

	engine := &heuristics.Engine{Idle: cfg.idle}
	var findings, filtered uint64
	table := flows.NewTable(flows.Options{
		LookAhead: cfg.lookAhead,
		MaxFlows:  cfg.maxFlows,
		OnEvent: func(ev *flows.Event) {
			f := engine.Judge(ev)
			if !cfg.keep.Keep(&f) {
				filtered++
				return
			}
			findings++
			exp.mark(ev)
			w.Write(&f) // a Writer keeps its first error for Close
		},
	})

	done := make(chan struct{})
	defer close(done)
	var stopped atomic.Bool
	go stopOn(stop, cfg.duration, done, &stopped, src, cfg.iface != "")

	var warnings []string
	prog := newProgress(stderr, cfg.iface == "")
	var p capture.Packet
	for n := uint64(0); (cfg.count == 0 || n < cfg.count) && !stopped.Load(); n++ {
		err := src.Next(&p)
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
			return err
		}
		table.Add(&p)
		if err := exp.packet(&p); err != nil {
			closeOut()
			return err
		}
		prog.tick(&p)
	}
	prog.done()
	table.Close()

	st := src.Stats()
	ts := table.Stats()
	if st.KernelDrops+st.IfaceDrops > 0 {
		warnings = append(warnings, fmt.Sprintf("the kernel dropped %d packets (interface: %d): findings may miss resets", st.KernelDrops, st.IfaceDrops))
	}
	if ts.DroppedFlows > 0 {
		warnings = append(warnings, fmt.Sprintf("%d flows were not tracked: --max-flows %d reached", ts.DroppedFlows, cfg.maxFlows))
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
			TruncatedInput: st.Truncated, DroppedByKernel: st.KernelDrops,
			DroppedFlows: ts.DroppedFlows, Filtered: filtered,
		},
	}
	werr := w.Close(sum)
	cerr := closeOut()
	eerr := exp.close()
	return errors.Join(werr, cerr, eerr)
}

// openSource opens the files or the live interface.
func openSource(cfg *config) (capture.Source, []string, error) {
	if cfg.iface != "" {
		src, err := capture.OpenLive(cfg.iface, capture.LiveOptions{
			Snaplen: cfg.snaplen, Promisc: !cfg.noPromisc, Immediate: true, Filter: cfg.filter,
		})
		if err != nil {
			return nil, nil, err
		}
		if cfg.user != "" {
			if err := capture.DropPrivileges(cfg.user); err != nil {
				src.Close()
				return nil, nil, err
			}
		}
		return src, []string{cfg.iface}, nil
	}
	src, err := capture.OpenFiles(cfg.reads, capture.FileOptions{Filter: cfg.filter})
	if err != nil {
		return nil, nil, err
	}
	return src, cfg.reads, nil
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
