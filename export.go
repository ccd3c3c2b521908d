package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"

	"github.com/rstscope/rstscope/capture"
	"github.com/rstscope/rstscope/flows"
)

// exporter implements -w. With --write-all it writes every packet as it is
// read. Otherwise it writes, at the end, every packet of the flows that
// produced a finding: regular input files are read a second time; stdin and
// live captures are spooled to a temporary file first, since which flows
// matter is only known after their look-ahead.
type exporter struct {
	path    string
	all     bool
	reread  []string // input files to read again, or nil when spooling
	filter  string
	out     *os.File
	w       *capture.ExportWriter
	spool   *os.File
	spoolW  *capture.ExportWriter
	flagged map[pairKey]bool
}

// pairKey is a flow's 5-tuple in canonical order (TCP implied).
type pairKey struct{ a, b netip.AddrPort }

func keyOf(x, y netip.AddrPort) pairKey {
	if y.Addr().Less(x.Addr()) || (y.Addr() == x.Addr() && y.Port() < x.Port()) {
		x, y = y, x
	}
	return pairKey{x, y}
}

func newExporter(cfg *config, src capture.Source) (*exporter, error) {
	e := &exporter{path: cfg.writeFile, all: cfg.writeAll, filter: cfg.filter, flagged: map[pairKey]bool{}}
	if e.path == "" {
		return e, nil
	}
	if err := refuseInput(e.path, cfg.reads); err != nil {
		return nil, err
	}
	var linkTypes []int
	if lt, ok := src.(capture.LinkTyper); ok {
		linkTypes = lt.LinkTypes()
	}
	out, err := os.Create(e.path)
	if err != nil {
		return nil, fmt.Errorf("-w: %w", err)
	}
	e.out = out
	if e.all {
		e.w, err = capture.NewExportWriter(out, linkTypes)
		return e, err
	}
	e.w, err = capture.NewExportWriter(out, linkTypes)
	if err != nil {
		return nil, err
	}
	if cfg.iface == "" && !contains(cfg.reads, "-") {
		e.reread = cfg.reads
		return e, nil
	}
	e.spool, err = os.CreateTemp("", "rstscope-spool-*.pcap")
	if err != nil {
		return nil, fmt.Errorf("-w: spool: %w", err)
	}
	e.spoolW, err = capture.NewExportWriter(e.spool, linkTypes)
	return e, err
}

// refuseInput stops -w from overwriting one of the inputs.
func refuseInput(out string, inputs []string) error {
	oi, err := os.Stat(out)
	if err != nil {
		return nil // does not exist yet
	}
	for _, in := range inputs {
		if ii, err := os.Stat(in); err == nil && os.SameFile(oi, ii) {
			return fmt.Errorf("-w %s is also an input: refusing to overwrite it", out)
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// mark records that ev's flow has a finding.
func (e *exporter) mark(ev *flows.Event) {
	if e.path != "" && !e.all {
		e.flagged[keyOf(ev.Flow.Client, ev.Flow.Server)] = true
	}
}

// packet sees every packet as it is read.
func (e *exporter) packet(p *capture.Packet) error {
	switch {
	case e.path == "":
		return nil
	case e.all:
		return e.w.WritePacket(p)
	case e.spoolW != nil:
		return e.spoolW.WritePacket(p)
	}
	return nil
}

// close writes the flagged flows (second pass) and closes the file.
func (e *exporter) close() error {
	if e.path == "" {
		return nil
	}
	var err error
	if !e.all {
		err = e.secondPass()
	}
	if ferr := e.w.Flush(); err == nil {
		err = ferr
	}
	if cerr := e.out.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("-w: %w", cerr)
	}
	if err != nil {
		os.Remove(e.path) // no silent half-file
	}
	return err
}

func (e *exporter) secondPass() error {
	inputs, filter := e.reread, e.filter
	if e.spool != nil {
		defer os.Remove(e.spool.Name())
		if err := e.spoolW.Flush(); err != nil {
			return fmt.Errorf("-w: spool: %w", err)
		}
		e.spool.Close()
		inputs, filter = []string{e.spool.Name()}, ""
	}
	if len(e.flagged) == 0 {
		return nil
	}
	src, err := capture.OpenFiles(inputs, capture.FileOptions{Filter: filter})
	if err != nil {
		return fmt.Errorf("-w: %w", err)
	}
	defer src.Close()
	var p capture.Packet
	for {
		err := src.Next(&p)
		if err == io.EOF || errors.Is(err, capture.ErrTruncated) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("-w: %w", err)
		}
		if e.flagged[keyOf(p.Src, p.Dst)] {
			if err := e.w.WritePacket(&p); err != nil {
				return err
			}
		}
	}
}
