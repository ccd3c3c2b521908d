package capture

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/klauspost/compress/s2"
)

// PcapWriter writes packets' frames to a classic pcap file with nanosecond
// timestamps (magic a1b23c4d, read by tcpdump, tshark and libpcap since
// 1.5). Output is buffered: call Flush at the end.
type PcapWriter struct {
	bw       *bufio.Writer
	w        *pcapgo.Writer
	linkType int
}

// NewPcapWriter writes the file header for linkType (a pcap LINKTYPE_
// value) and snaplen (0 means 262144) and returns the writer.
func NewPcapWriter(w io.Writer, linkType int, snaplen uint32) (*PcapWriter, error) {
	if snaplen == 0 {
		snaplen = maxRecordLen
	}
	bw := bufio.NewWriter(w)
	pw := pcapgo.NewWriterNanos(bw)
	if err := pw.WriteFileHeader(snaplen, layers.LinkType(linkType)); err != nil {
		return nil, fmt.Errorf("capture: export: %w", err)
	}
	return &PcapWriter{bw: bw, w: pw, linkType: linkType}, nil
}

// WritePacket writes p.Frame with p.Time and p.WireLen. The frame's link
// type must be the file's.
func (w *PcapWriter) WritePacket(p *Packet) error {
	if p.LinkType != w.linkType {
		return fmt.Errorf("capture: export: frame %d has link type %d, the pcap file %d", p.Index, p.LinkType, w.linkType)
	}
	if err := w.w.WritePacket(captureInfo(p, 0), p.Frame); err != nil {
		return fmt.Errorf("capture: export: %w", err)
	}
	return nil
}

// Flush writes out buffered data.
func (w *PcapWriter) Flush() error {
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("capture: export: %w", err)
	}
	return nil
}

// captureInfo is p's record header. A wire length below the captured length
// (never from a Source) is raised to it, as pcap requires.
func captureInfo(p *Packet, iface int) gopacket.CaptureInfo {
	wire := p.WireLen
	if wire < len(p.Frame) {
		wire = len(p.Frame)
	}
	return gopacket.CaptureInfo{Timestamp: p.Time, CaptureLength: len(p.Frame), Length: wire, InterfaceIndex: iface}
}

// ExportWriter writes frames of one or more link types: classic pcap when
// there is one link type (the most widely read format), pcapng with one
// interface per link type otherwise (see PcapngWriter).
type ExportWriter struct {
	pcap *PcapWriter
	ng   *PcapngWriter
}

// NewExportWriter picks the format from linkTypes (for example a Source's
// LinkTypes()): pcap for one link type (duplicates are ignored), writing
// its file header now; pcapng for several or none, taking frames of any
// link type. A pcap export refuses frames of another link type.
func NewExportWriter(w io.Writer, linkTypes []int) (*ExportWriter, error) {
	if len(linkTypes) == 0 || slices.ContainsFunc(linkTypes, func(lt int) bool { return lt != linkTypes[0] }) {
		return &ExportWriter{ng: NewPcapngWriter(w)}, nil
	}
	pw, err := NewPcapWriter(w, linkTypes[0], 0)
	if err != nil {
		return nil, err
	}
	return &ExportWriter{pcap: pw}, nil
}

func ngInterface(linkType int) pcapgo.NgInterface {
	return pcapgo.NgInterface{
		Name:                "linktype" + strconv.Itoa(linkType),
		LinkType:            layers.LinkType(linkType),
		SnapLength:          maxRecordLen,
		TimestampResolution: 9,
	}
}

// WritePacket writes p.Frame with p.Time, p.WireLen and p.LinkType.
func (e *ExportWriter) WritePacket(p *Packet) error {
	if e.pcap != nil {
		return e.pcap.WritePacket(p)
	}
	return e.ng.WritePacket(p)
}

// Flush writes out buffered data.
func (e *ExportWriter) Flush() error {
	if e.pcap != nil {
		return e.pcap.Flush()
	}
	return e.ng.Flush()
}

// Pcapng reports whether the export is pcapng.
func (e *ExportWriter) Pcapng() bool { return e.ng != nil }

// ExportOptions configures an Exporter.
type ExportOptions struct {
	// All writes every packet as it is read (--write-all). Otherwise only
	// the packets of flows marked with Mark are written, at Close.
	All bool
	// Inputs are the input files (nil for a live capture). When they are
	// all regular files, Close reads them a second time for the marked
	// flows; otherwise (a pipe, a FIFO, stdin, a live capture) every
	// packet is spooled to an unlinked temporary file as it is read.
	Inputs []string
	// Spool spools even regular inputs: the process is about to lose the
	// right to read them (-Z).
	Spool bool
	// Filter is the first pass's BPF filter, applied again when rereading.
	Filter string
	// LinkTypes are the input's link types as known at the start (see
	// LinkTyper), and MoreLinkTypes says that the input may bring others
	// later (see MayAddLinkTypes). With All the file is written as the
	// packets come: pcap for one link type that cannot change, pcapng
	// otherwise. Without All the format is picked at Close from the link
	// types of the packets read: pcap for one, pcapng for several.
	LinkTypes     []int
	MoreLinkTypes bool
	// Writer, if set, wraps the destination (stdout or the opened file)
	// for every write: the caller's guard against a reader that stalls.
	Writer func(io.Writer) io.Writer
}

// Exporter writes the packets of the flows with findings (-w), or every
// packet. Which flows matter is known only once their findings are
// decided, so the flagged flows are written at Close, from a second read
// of the inputs (as many packets as the first read saw) or from a spool.
// The spool is a pcapng stream, whatever link types come, compressed as
// an S2 stream (under half the size on `make bench`'s mix: 1,349 MB of
// pcapng spooled as 598 MB, where TMPDIR is often a tmpfs, that is
// memory; S2 compresses about 0.9 GB a second a core, on goroutines of
// its own). It is unlinked as soon as it is created and read back through
// its descriptor: it never outlives the process (a second SIGINT, a
// crash) and stays readable after privileges are dropped. A write error is kept and returned by
// Close: reading (and the report) go on without -w. A nil *Exporter does
// nothing.
type Exporter struct {
	opts     ExportOptions
	out      io.Writer // the -w file or stdout
	file     *Output   // nil for stdout
	w        *ExportWriter
	reread   bool
	spool    *os.File
	spoolZ   *s2.Writer // compresses into spool
	spoolW   *PcapngWriter
	unlinked bool // the spool was removed at creation (not possible on every OS)
	flagged  map[pairKey]bool
	links    []int  // link types of the packets read, in order of first appearance
	lastLink int    // link type of the previous packet, to skip the lookup
	packets  uint64 // packets read (the second pass reads as many)
	err      error  // first write error
}

// pairKey is a flow's two endpoints in canonical order (TCP implied).
type pairKey struct{ a, b netip.AddrPort }

func keyOf(x, y netip.AddrPort) pairKey {
	if y.Addr().Less(x.Addr()) || (y.Addr() == x.Addr() && y.Port() < x.Port()) {
		x, y = y, x
	}
	return pairKey{x, y}
}

// NewExporter creates path (see CreateOutput; "-" is stdout) and, when it
// writes every packet, the file header; unless it writes every packet or
// rereads the inputs, it creates the spool.
func NewExporter(path string, stdout io.Writer, stop <-chan struct{}, opts ExportOptions) (*Exporter, error) {
	e := &Exporter{opts: opts, flagged: map[pairKey]bool{}, out: stdout, lastLink: -1}
	e.reread = !opts.Spool && len(opts.Inputs) > 0 && !slices.ContainsFunc(opts.Inputs, func(in string) bool { return !Regular(in) })
	var err error
	if e.file, err = CreateOutput("-w", path, stop); err != nil {
		return nil, err
	}
	if e.file != nil {
		e.out = e.file
	}
	if opts.Writer != nil {
		e.out = opts.Writer(e.out)
	}
	if opts.All {
		links := opts.LinkTypes
		if opts.MoreLinkTypes {
			links = nil // pcapng
		}
		if e.w, err = NewExportWriter(e.out, links); err != nil {
			e.Abort()
			return nil, err
		}
		return e, nil
	}
	if e.reread {
		return e, nil
	}
	if e.spool, err = os.CreateTemp("", "rstscope-spool-*.pcapng"); err != nil {
		e.Abort()
		return nil, fmt.Errorf("-w: spool: %w", err)
	}
	e.unlinked = os.Remove(e.spool.Name()) == nil
	// Two blocks (of 1 MiB) in flight: the default, one a core, would hold
	// 2 MiB of buffers a core on a big machine for no more speed than the
	// reading goroutine needs (S2 compresses about 0.9 GB/s a core).
	e.spoolZ = s2.NewWriter(e.spool, s2.WriterConcurrency(2))
	e.spoolW = NewPcapngWriter(e.spoolZ)
	return e, nil
}

// Mark records that the flow between a and b has a finding.
func (e *Exporter) Mark(a, b netip.AddrPort) {
	if e != nil && !e.opts.All {
		e.flagged[keyOf(a, b)] = true
	}
}

// Packet sees every packet as it is read. It returns nil: a write error
// is kept and returned by Close, so that reading, and the report, go on
// (a Recorder, which -w with rotation uses, stops the read instead).
func (e *Exporter) Packet(p *Packet) error {
	if e == nil || e.err != nil {
		return nil // inlined: the read loop calls it for every packet, nearly always nil
	}
	return e.packet(p)
}

func (e *Exporter) packet(p *Packet) error {
	e.packets++
	if p.LinkType != e.lastLink {
		e.lastLink = p.LinkType
		if !slices.Contains(e.links, p.LinkType) {
			e.links = append(e.links, p.LinkType)
		}
	}
	switch {
	case e.opts.All:
		e.err = e.w.WritePacket(p)
	case e.spoolW != nil:
		if err := e.spoolW.WritePacket(p); err != nil {
			e.err = fmt.Errorf("-w: spool: %w", err)
		}
	}
	return nil
}

// Abort releases the spool and removes a half-written -w file, for a run
// that fails; after Close it does nothing.
func (e *Exporter) Abort() {
	if e == nil {
		return
	}
	e.release()
	e.file.Abort()
}

func (e *Exporter) release() {
	if e.spool != nil {
		e.spoolZ.Close() // ends its goroutines; its error no longer matters
		e.spool.Close()
		if !e.unlinked {
			os.Remove(e.spool.Name())
		}
		e.spool, e.spoolZ, e.spoolW = nil, nil, nil
	}
}

// Close writes the marked flows (the second pass), flushes and closes the
// output and releases the spool. On error (also one kept from Packet) the
// output is removed.
func (e *Exporter) Close() error {
	if e == nil {
		return nil
	}
	defer e.Abort()
	if e.err != nil {
		return e.err
	}
	if !e.opts.All {
		links := e.links
		if len(links) == 0 {
			links = e.opts.LinkTypes // no packet: the input's header says
		}
		var err error
		if e.w, err = NewExportWriter(e.out, links); err != nil {
			return err
		}
		if err := e.secondPass(); err != nil {
			return err
		}
	}
	if err := e.w.Flush(); err != nil {
		return err
	}
	return e.file.Close()
}

func (e *Exporter) secondPass() error {
	var src Source
	var err error
	switch {
	case e.spool != nil:
		if err := e.endSpool(); err != nil {
			return fmt.Errorf("-w: spool: %w", err)
		}
		if len(e.flagged) == 0 {
			return nil
		}
		if _, err := e.spool.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("-w: spool: %w", err)
		}
		src, err = OpenReader(s2.NewReader(e.spool), "spool", FileOptions{})
	case len(e.flagged) == 0:
		return nil
	default:
		src, err = OpenFiles(e.opts.Inputs, FileOptions{Filter: e.opts.Filter})
	}
	if err != nil {
		return fmt.Errorf("-w: %w", err)
	}
	defer src.Close()
	var p Packet
	for n := uint64(0); n < e.packets; n++ { // what the first pass read, no more (-c)
		err := src.Next(&p)
		if err == io.EOF || errors.Is(err, ErrTruncated) {
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
	return nil
}

// endSpool writes out what the spool's writers hold.
func (e *Exporter) endSpool() error {
	if err := e.spoolW.Flush(); err != nil {
		return err
	}
	return e.spoolZ.Close() // the stream's end; spool stays open
}

// Output is a file rstscope writes (-w, -o), opened write-only as tcpdump
// opens its outputs: a FIFO blocks until a reader comes, a pipe's reader
// going away is seen (EPIPE), and a regular file that could not be
// completed is removed (no silent half-file). Devices such as /dev/null
// or /dev/full, and FIFOs, are never removed.
type Output struct {
	*os.File
	flag      string // "-w" or "-o", for messages
	removable bool
	closed    bool
}

// CreateOutput opens path for writing, truncating a regular file; flag
// (-w, or "output" for -o) prefixes errors. It blocks on a FIFO until a
// reader opens it, or stop is closed. "" and "-" (stdout) give nil.
func CreateOutput(flag, path string, stop <-chan struct{}) (*Output, error) {
	if path == "" || path == "-" {
		return nil, nil
	}
	return Interruptible(stop, path, func() (*Output, error) {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o666)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
		o := &Output{File: f, flag: flag}
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			o.removable = true
		}
		return o, nil
	})
}

// Close closes the file; on error a regular file is removed.
func (o *Output) Close() error {
	if o == nil || o.closed {
		return nil
	}
	o.closed = true
	if err := o.File.Close(); err != nil {
		o.remove()
		return fmt.Errorf("%s: %w", o.flag, err)
	}
	return nil
}

// Abort closes the file and removes it when it is a regular file; after
// Close it does nothing.
func (o *Output) Abort() {
	if o == nil || o.closed {
		return
	}
	o.closed = true
	o.File.Close()
	o.remove()
}

func (o *Output) remove() {
	if o.removable {
		os.Remove(o.Name())
	}
}

// RefuseOverwrite stops an output (flag: -o or -w) from overwriting one of
// the inputs, the same file by any name.
func RefuseOverwrite(flag, out string, inputs []string) error {
	for _, in := range inputs {
		if SameFile(out, in) {
			return fmt.Errorf("%s %s is also an input: refusing to overwrite it", flag, out)
		}
	}
	return nil
}

// SameFile reports whether the paths a and b name one file (stdout, "-"
// or "", is no file): the same inode, or the same absolute path for files
// that do not exist yet.
func SameFile(a, b string) bool {
	if a == "" || b == "" || a == "-" || b == "-" {
		return false
	}
	ai, aerr := os.Stat(a)
	bi, berr := os.Stat(b)
	if aerr == nil && berr == nil {
		return os.SameFile(ai, bi)
	}
	aa, _ := filepath.Abs(a)
	ba, _ := filepath.Abs(b)
	return aerr != nil && berr != nil && aa == ba
}

// Regular reports whether path is a regular file ("-", stdin, is not), one
// that a second pass can read again.
func Regular(path string) bool {
	fi, err := os.Stat(path)
	return path != "-" && err == nil && fi.Mode().IsRegular()
}
