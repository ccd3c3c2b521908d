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
// matter is only known after their look-ahead. The spool is unlinked as
// soon as it is created and read back through its descriptor, so that it
// never outlives the process (a second SIGINT, a crash) and stays readable
// after -Z dropped root.
type exporter struct {
	path     string
	all      bool
	reread   []string // input files to read again, or nil when spooling
	filter   string
	out      *os.File
	w        *capture.ExportWriter
	spool    *os.File
	spoolW   *capture.ExportWriter
	unlinked bool // the spool was removed at creation (not possible on every OS)
	// removable: the output is a regular file, removed when the run fails
	// (no silent half-file); never a device such as /dev/null or
	// /dev/full, nor a FIFO.
	removable bool
	flagged   map[pairKey]bool
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
	if err := refuseInput("-w", e.path, cfg.reads); err != nil {
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
	if fi, err := out.Stat(); err == nil && fi.Mode().IsRegular() {
		e.removable = true
	}
	e.w, err = capture.NewExportWriter(out, linkTypes)
	if err != nil {
		e.abort()
		return nil, err
	}
	if e.all {
		return e, nil
	}
	if cfg.iface == "" && !contains(cfg.reads, "-") {
		e.reread = cfg.reads
		return e, nil
	}
	e.spool, err = os.CreateTemp("", "rstscope-spool-*.pcap")
	if err != nil {
		e.spool = nil
		e.abort()
		return nil, fmt.Errorf("-w: spool: %w", err)
	}
	if os.Remove(e.spool.Name()) == nil {
		e.unlinked = true
	}
	e.spoolW, err = capture.NewExportWriter(e.spool, linkTypes)
	if err != nil {
		e.abort()
		return nil, err
	}
	return e, nil
}

// abort closes and removes what newExporter created, for a run that ends
// before reading or fails while reading.
func (e *exporter) abort() {
	if e.path == "" {
		return
	}
	if e.spool != nil {
		e.spool.Close()
		if !e.unlinked {
			os.Remove(e.spool.Name())
		}
	}
	e.out.Close()
	if e.removable {
		os.Remove(e.path)
	}
}

// refuseInput stops -w or -o (flag) from overwriting one of the inputs.
func refuseInput(flag, out string, inputs []string) error {
	oi, err := os.Stat(out)
	if err != nil {
		return nil // does not exist yet
	}
	for _, in := range inputs {
		if ii, err := os.Stat(in); err == nil && os.SameFile(oi, ii) {
			return fmt.Errorf("%s %s is also an input: refusing to overwrite it", flag, out)
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
		if e.removable {
			os.Remove(e.path) // no silent half-file
		}
	}
	return err
}

func (e *exporter) secondPass() error {
	var src capture.Source
	if e.spool != nil {
		defer func() {
			e.spool.Close()
			if !e.unlinked {
				os.Remove(e.spool.Name())
			}
		}()
		if err := e.spoolW.Flush(); err != nil {
			return fmt.Errorf("-w: spool: %w", err)
		}
		if len(e.flagged) == 0 {
			return nil
		}
		if _, err := e.spool.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("-w: spool: %w", err)
		}
		s, err := capture.OpenReader(e.spool, "spool", capture.FileOptions{})
		if err != nil {
			return fmt.Errorf("-w: %w", err)
		}
		src = s
	} else {
		if len(e.flagged) == 0 {
			return nil
		}
		s, err := capture.OpenFiles(e.reread, capture.FileOptions{Filter: e.filter})
		if err != nil {
			return fmt.Errorf("-w: %w", err)
		}
		src = s
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
