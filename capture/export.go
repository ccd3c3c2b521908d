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
// interface per link type when there are several.
type ExportWriter struct {
	pcap  *PcapWriter
	ng    *pcapgo.NgWriter
	links []int // pcapng: link type of interface i
}

// NewExportWriter picks the format from linkTypes (for example a Source's
// LinkTypes()) and writes the file header. Duplicates are ignored. A pcapng
// export also takes frames of link types not listed, adding an interface
// for each; a pcap export refuses them.
func NewExportWriter(w io.Writer, linkTypes []int) (*ExportWriter, error) {
	var links []int
	for _, lt := range linkTypes {
		if !slices.Contains(links, lt) {
			links = append(links, lt)
		}
	}
	switch len(links) {
	case 0:
		return nil, errors.New("capture: export: no link type given")
	case 1:
		pw, err := NewPcapWriter(w, links[0], 0)
		if err != nil {
			return nil, err
		}
		return &ExportWriter{pcap: pw}, nil
	}
	opts := pcapgo.DefaultNgWriterOptions
	opts.SectionInfo.Application = "rstscope"
	ng, err := pcapgo.NewNgWriterInterface(w, ngInterface(links[0]), opts)
	if err != nil {
		return nil, fmt.Errorf("capture: export: %w", err)
	}
	e := &ExportWriter{ng: ng, links: links[:1]}
	for _, lt := range links[1:] {
		if _, err := e.addInterface(lt); err != nil {
			return nil, err
		}
	}
	return e, nil
}

func ngInterface(linkType int) pcapgo.NgInterface {
	return pcapgo.NgInterface{
		Name:                "linktype" + strconv.Itoa(linkType),
		LinkType:            layers.LinkType(linkType),
		SnapLength:          maxRecordLen,
		TimestampResolution: 9,
	}
}

func (e *ExportWriter) addInterface(linkType int) (int, error) {
	id, err := e.ng.AddInterface(ngInterface(linkType))
	if err != nil {
		return 0, fmt.Errorf("capture: export: %w", err)
	}
	e.links = append(e.links, linkType)
	return id, nil
}

// WritePacket writes p.Frame with p.Time, p.WireLen and p.LinkType.
func (e *ExportWriter) WritePacket(p *Packet) error {
	if e.pcap != nil {
		return e.pcap.WritePacket(p)
	}
	id := slices.Index(e.links, p.LinkType)
	if id < 0 {
		var err error
		if id, err = e.addInterface(p.LinkType); err != nil {
			return err
		}
	}
	if err := e.ng.WritePacket(captureInfo(p, id), p.Frame); err != nil {
		return fmt.Errorf("capture: export: %w", err)
	}
	return nil
}

// Flush writes out buffered data.
func (e *ExportWriter) Flush() error {
	if e.pcap != nil {
		return e.pcap.Flush()
	}
	if err := e.ng.Flush(); err != nil {
		return fmt.Errorf("capture: export: %w", err)
	}
	return nil
}

// Pcapng reports whether the export is pcapng (several link types).
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
	// LinkTypes are the input's link types (see LinkTyper): one gives a
	// pcap file, several a pcapng file.
	LinkTypes []int
}

// Exporter writes the packets of the flows with findings (-w), or every
// packet. Which flows matter is known only once their findings are
// decided, so the flagged flows are written at Close, from a second read
// of the inputs or from a spool. The spool is unlinked as soon as it is
// created and read back through its descriptor: it never outlives the
// process (a second SIGINT, a crash) and stays readable after privileges
// are dropped. A nil *Exporter does nothing.
type Exporter struct {
	opts     ExportOptions
	out      *Output // nil for stdout
	w        *ExportWriter
	reread   bool
	spool    *os.File
	spoolW   *ExportWriter
	unlinked bool // the spool was removed at creation (not possible on every OS)
	flagged  map[pairKey]bool
}

// pairKey is a flow's two endpoints in canonical order (TCP implied).
type pairKey struct{ a, b netip.AddrPort }

func keyOf(x, y netip.AddrPort) pairKey {
	if y.Addr().Less(x.Addr()) || (y.Addr() == x.Addr() && y.Port() < x.Port()) {
		x, y = y, x
	}
	return pairKey{x, y}
}

// NewExporter creates path (see CreateOutput; "-" is stdout), writes the
// file header and, unless it writes every packet or rereads the inputs,
// creates the spool.
func NewExporter(path string, stdout io.Writer, stop <-chan struct{}, opts ExportOptions) (*Exporter, error) {
	e := &Exporter{opts: opts, flagged: map[pairKey]bool{}}
	e.reread = !opts.Spool && len(opts.Inputs) > 0 && !slices.ContainsFunc(opts.Inputs, func(in string) bool { return !Regular(in) })
	out, err := CreateOutput("-w", path, stop)
	if err != nil {
		return nil, err
	}
	e.out = out
	var w io.Writer = stdout
	if out != nil {
		w = out
	}
	if e.w, err = NewExportWriter(w, opts.LinkTypes); err != nil {
		e.Abort()
		return nil, err
	}
	if opts.All || e.reread {
		return e, nil
	}
	if e.spool, err = os.CreateTemp("", "rstscope-spool-*.pcap"); err != nil {
		e.Abort()
		return nil, fmt.Errorf("-w: spool: %w", err)
	}
	e.unlinked = os.Remove(e.spool.Name()) == nil
	if e.spoolW, err = NewExportWriter(e.spool, opts.LinkTypes); err != nil {
		e.Abort()
		return nil, err
	}
	return e, nil
}

// Mark records that the flow between a and b has a finding.
func (e *Exporter) Mark(a, b netip.AddrPort) {
	if e != nil && !e.opts.All {
		e.flagged[keyOf(a, b)] = true
	}
}

// Packet sees every packet as it is read.
func (e *Exporter) Packet(p *Packet) error {
	switch {
	case e == nil:
		return nil
	case e.opts.All:
		return e.w.WritePacket(p)
	case e.spoolW != nil:
		return e.spoolW.WritePacket(p)
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
	e.out.Abort()
}

func (e *Exporter) release() {
	if e.spool != nil {
		e.spool.Close()
		if !e.unlinked {
			os.Remove(e.spool.Name())
		}
		e.spool, e.spoolW = nil, nil
	}
}

// Close writes the marked flows (the second pass), flushes and closes the
// output and releases the spool. On error the output is removed.
func (e *Exporter) Close() error {
	if e == nil {
		return nil
	}
	defer e.Abort()
	if !e.opts.All {
		if err := e.secondPass(); err != nil {
			return err
		}
	}
	if err := e.w.Flush(); err != nil {
		return err
	}
	return e.out.Close()
}

func (e *Exporter) secondPass() error {
	var src Source
	var err error
	switch {
	case e.spool != nil:
		if err := e.spoolW.Flush(); err != nil {
			return fmt.Errorf("-w: spool: %w", err)
		}
		if len(e.flagged) == 0 {
			return nil
		}
		if _, err := e.spool.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("-w: spool: %w", err)
		}
		src, err = OpenReader(e.spool, "spool", FileOptions{})
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
	for {
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
