package capture

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// maxRecordLen is the longest frame a record may hold: libpcap's
// MAXIMUM_SNAPLEN, which is also Wireshark's limit for the link types
// rstscope reads. A longer record means a corrupt file; it ends the input
// like a cut does, before anything is read or allocated for it.
const maxRecordLen = 262144

// maxFirstErrors is how many per-frame problems Stats.FirstErrors keeps.
const maxFirstErrors = 8

// readBufferSize is the bufio size in front of a file or stdin.
const readBufferSize = 1 << 16

// Errors a file Source returns, wrapped with the file name (and frame).
var (
	// ErrTruncated ends a capture cut in the middle of a record, or one
	// whose next record is corrupt. Everything before it has been returned.
	ErrTruncated = errors.New("input truncated")
	// ErrNotCapture is returned by OpenFile for input that is neither pcap,
	// pcapng, gzip nor zstd.
	ErrNotCapture = errors.New("not a capture file")
	// ErrEmpty is returned by OpenFile for an empty input.
	ErrEmpty = errors.New("empty file")
	// ErrNeedCgo is returned for a BPF filter in a build without cgo.
	ErrNeedCgo = errors.New("BPF filters need a cgo build")
)

// Magic numbers as the first four bytes read little-endian.
const (
	magicPcapMicro   = 0xa1b2c3d4
	magicPcapMicroBE = 0xd4c3b2a1
	magicPcapNano    = 0xa1b23c4d
	magicPcapNanoBE  = 0x4d3cb2a1
	magicPcapng      = 0x0a0d0d0a // section header block type: a palindrome
)

// FileOptions tunes OpenFile and OpenFiles.
type FileOptions struct {
	// Filter is a BPF expression in tcpdump syntax, compiled with libpcap
	// for each link type met. Frames it rejects are counted in
	// Stats.Filtered. Empty means no filter. Needs a cgo build.
	Filter string
	// Stdin is what the path "-" reads; nil means os.Stdin.
	Stdin io.Reader
}

// frameReader is one capture format's record reader.
type frameReader interface {
	// next returns the next record's frame, capture info and link type,
	// and how many frame numbers tshark gives the record and whatever it
	// numbers since the previous one (1 plus pcapng custom blocks). data
	// is valid until the next call. io.EOF ends the input cleanly; any
	// other error ends it where the record starts.
	next() (data []byte, ci gopacket.CaptureInfo, linkType int, frames uint64, err error)
}

// fileSource is a Source over one pcap or pcapng file, plain, gzip or
// zstd.
type fileSource struct {
	name   string // path as given, or "stdin"
	input  int
	file   io.Closer // nil for stdin
	r      frameReader
	dec    *Decoder
	filter *filter

	links       []int // link types seen, in order of first appearance
	lastLink    int   // link type of the previous frame, to skip the lookup
	unsupported []int // link types the decoder cannot read

	// pending holds a frame read ahead at open (pcapng), returned first.
	pending       []byte
	pendingCI     gopacket.CaptureInfo
	pendingLT     int
	pendingFrames uint64
	hasPending    bool

	// steady is set when reads never wait for data (a regular file or
	// memory): only then does Prefetch read ahead.
	steady bool
	// compressed is set for a gzip or zstd file (PrefetchHeavy).
	compressed bool
	// ahead decompresses a gzip or zstd file on a goroutine of its own
	// (nil otherwise); Close stops it.
	ahead *aheadReader
	count *countReader // the bytes read from the file (see Progress)
	// pcap or ng is r, by the file's format: next calls it directly.
	pcap *pcapRecordReader
	ng   *ngRecordReader
	size int64 // the file's size; 0 when unknown

	index uint64
	stats Stats
	err   error // sticky end: io.EOF or the error that ended the input
}

// OpenFile opens a pcap or pcapng capture, optionally gzip- or
// zstd-compressed, for reading; path "-" reads standard input. The format
// comes from the magic number, not the name. input is stored in every
// Packet.Input. Timestamps are UTC; Packet.Index is the 1-based frame
// number, as tshark numbers frames. The returned Source also implements
// LinkTyper.
func OpenFile(path string, input int, opts FileOptions) (Source, error) {
	if path == "-" {
		in := opts.Stdin
		if in == nil {
			in = os.Stdin
		}
		return newFileSource(in, nil, "stdin", input, opts)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("capture: %s: %w", path, pathErr(err))
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("capture: %s: %w", path, pathErr(err))
	}
	if fi.IsDir() {
		f.Close()
		return nil, fmt.Errorf("capture: %s: is a directory", path)
	}
	s, err := newFileSource(f, f, path, input, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	if fi.Mode().IsRegular() {
		s.size = fi.Size()
	}
	return s, nil
}

// steadyReader reports whether reads from r never wait for data to come
// (a regular file, or memory), unlike a pipe, FIFO or terminal.
func steadyReader(r io.Reader) bool {
	switch r := r.(type) {
	case *bytes.Reader, *bytes.Buffer, *strings.Reader:
		return true
	case *os.File:
		fi, err := r.Stat()
		return err == nil && fi.Mode().IsRegular()
	}
	return false
}

// pathErr drops the *fs.PathError layer, whose text repeats the path and
// the operation: "no such file or directory" is enough after the name.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func newFileSource(r io.Reader, closer io.Closer, name string, input int, opts FileOptions) (_ *fileSource, err error) {
	s := &fileSource{name: name, input: input, file: closer, dec: NewDecoder(), lastLink: -1, steady: steadyReader(r), count: &countReader{r: r}}
	defer func() {
		if err != nil && s.ahead != nil {
			s.ahead.Close() // the caller closes the file
		}
	}()
	br := bufio.NewReaderSize(s.count, readBufferSize)
	kind, err := sniff(br, name, "")
	if err != nil {
		return nil, err
	}
	var bigEndian bool // the file's byte order, for the BPF compiler
	if kind == kindGzip || kind == kindZstd {
		s.compressed = true
		format := "gzip"
		var in io.Reader
		if kind == kindGzip {
			// klauspost/compress's gzip, not the standard library's: the
			// same reader and errors, and its inflate is faster, which is
			// what a gzip capture waits on (the 1.2 GB bench capture
			// gzipped: 7.1-7.6 s -> 4.8-5.7 s end to end; 117 MB inflated
			// at 362 MB/s against 232 MB/s).
			gz, err := gzip.NewReader(br)
			if err != nil {
				return nil, fmt.Errorf("capture: %s: bad gzip header: %w", name, err)
			}
			in = gz
		} else {
			// One block at a time (concurrency 1: no goroutines of its
			// own, so nothing to close), the window bounded.
			format = "zstd"
			zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(zstdMaxWindow))
			if err != nil {
				return nil, fmt.Errorf("capture: %s: zstd: %w", name, err)
			}
			in = zr.IOReadCloser()
		}
		// The decompression gets a goroutine of its own (aheadReader); a
		// pipe's blocks are handed over as they come, not when full.
		s.ahead = newAheadReader(in, !s.steady)
		in = s.ahead
		br = bufio.NewReaderSize(in, readBufferSize)
		if kind, err = sniff(br, name, " inside "+format); err != nil {
			if errors.Is(err, zstd.ErrWindowSizeExceeded) {
				return nil, fmt.Errorf("capture: %s: zstd: %w (the limit is %d MiB, the zstd tool's own)", name, zstd.ErrWindowSizeExceeded, zstdMaxWindow>>20)
			}
			return nil, err
		}
		if kind == kindGzip || kind == kindZstd {
			return nil, fmt.Errorf("capture: %s: %w (compressed inside %s)", name, ErrNotCapture, format)
		}
	}
	if b, err := br.Peek(12); err == nil {
		bigEndian = binary.BigEndian.Uint32(b) == magicPcapMicro || binary.BigEndian.Uint32(b) == magicPcapNano ||
			kind == kindPcapng && binary.BigEndian.Uint32(b[8:]) == 0x1a2b3c4d
	}
	switch kind {
	case kindPcap:
		var magic uint32
		if b, err := br.Peek(4); err == nil {
			magic = binary.LittleEndian.Uint32(b)
		}
		pr, err := pcapgo.NewReader(br) // reuses br: it is a *bufio.Reader of at least 4 KiB
		if err != nil {
			return nil, headerErr(name, "pcap", err)
		}
		// pcapgo has read and checked the file header; the records are
		// read by pcapRecordReader, which returns them in place. Records
		// longer than maxRecordLen are corruption, rejected before they
		// are read, as pcapgo does with SetSnaplen(maxRecordLen) (the
		// header's own snaplen is not a limit; tcpdump and tshark read
		// records longer than it).
		s.pcap = newPcapRecordReader(br, magic, int(pr.LinkType()))
		s.r = s.pcap
		s.addLink(int(pr.LinkType()))
	case kindPcapng:
		ng := newNgRecordReader(br)
		if err := ng.header(); err != nil {
			return nil, headerErr(name, "pcapng", err)
		}
		s.ng, s.r = ng, ng
		// Read ahead one frame: pcapng describes its interfaces (and so
		// its link types) in blocks that come before their packets.
		data, ts, wire, lt, frames, err := ng.read()
		switch {
		case err == nil:
			s.pending, s.pendingLT, s.pendingFrames, s.hasPending = data, lt, frames, true
			s.pendingCI = gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: wire}
		case err != io.EOF:
			s.err = s.endErr(err) // reported by the first Next
		}
		for _, f := range ng.ifaces {
			s.addLink(f.linkType)
		}
	}
	if err := s.checkLinkTypes(); err != nil {
		return nil, err
	}
	if opts.Filter != "" {
		lt := linkEthernet // a pcapng file without interfaces: check the syntax
		if len(s.links) > 0 {
			lt = s.links[0]
		}
		f, err := newFilter(opts.Filter, lt, bigEndian)
		if err != nil {
			return nil, err
		}
		s.filter = f
	}
	return s, nil
}

// checkLinkTypes refuses a file whose every link type is one the decoder
// cannot read: nothing in it could be analysed.
func (s *fileSource) checkLinkTypes() error {
	if len(s.links) == 0 {
		return nil
	}
	var p Packet
	for _, lt := range s.links {
		if err := s.dec.Decode(lt, nil, &p); !errors.Is(err, ErrUnsupportedLinkType) {
			return nil
		}
	}
	return fmt.Errorf("capture: %s: %w %d (%s)", s.name, ErrUnsupportedLinkType, s.links[0], linkTypeName(s.links[0]))
}

type captureKind int

const (
	kindPcap captureKind = iota + 1
	kindPcapng
	kindGzip
	kindZstd
)

// zstdMaxWindow bounds the window a zstd capture may ask for, what its
// decoder allocates: the zstd tool's own default limit for decompression
// (128 MiB; level 19 uses 8 MiB, --long 128 MiB).
const zstdMaxWindow = 128 << 20

// sniff tells the format from the first four bytes.
func sniff(br *bufio.Reader, name, where string) (captureKind, error) {
	b, err := br.Peek(4)
	if len(b) == 0 && err == io.EOF {
		return 0, fmt.Errorf("capture: %s: %w%s", name, ErrEmpty, where)
	}
	if len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b {
		return kindGzip, nil
	}
	if len(b) == 4 && binary.LittleEndian.Uint32(b) == 0xfd2fb528 {
		return kindZstd, nil
	}
	if err == io.EOF {
		return 0, fmt.Errorf("capture: %s: %w%s (only %d bytes)", name, ErrNotCapture, where, len(b))
	}
	if err != nil {
		return 0, fmt.Errorf("capture: %s: %w", name, err)
	}
	switch binary.LittleEndian.Uint32(b) {
	case magicPcapMicro, magicPcapMicroBE, magicPcapNano, magicPcapNanoBE:
		return kindPcap, nil
	case magicPcapng:
		return kindPcapng, nil
	}
	return 0, fmt.Errorf("capture: %s: %w%s (magic % x is not pcap, pcapng, gzip or zstd)", name, ErrNotCapture, where, b)
}

// headerErr reports a file header that did not read.
func headerErr(name, format string, err error) error {
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		return fmt.Errorf("capture: %s: %w: %s file header cut short", name, ErrTruncated, format)
	}
	return fmt.Errorf("capture: %s: bad %s file header: %s", name, format, lowerFirst(err.Error()))
}

// lowerFirst lower-cases the first letter of a message from another package.
func lowerFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError || !unicode.IsUpper(r) {
		return s
	}
	return string(unicode.ToLower(r)) + s[n:]
}

// Next implements Source.
func (s *fileSource) Next(p *Packet) error {
	if _, ok := s.nextPcap(p, nil); ok {
		return nil
	}
	_, err := s.next(p, nil)
	return err
}

// errNoRoom is next's answer when the frame does not fit in buf: the frame
// is kept for the next call.
var errNoRoom = errors.New("capture: batch buffer full")

// next is Next, with the frame first copied to the end of buf when buf is
// not nil, so that p.Frame and p.Payload alias buf (Prefetch's batches);
// it returns buf with the frame appended (a frame that does not decode is
// not kept). When the frame does not fit in buf's capacity, and buf holds
// other frames, nothing is returned: the frame is kept for the next call
// and the error is errNoRoom. An empty buf too small is grown.
func (s *fileSource) next(p *Packet, buf []byte) ([]byte, error) {
	for {
		if s.err != nil {
			return buf, s.err
		}
		var (
			data   []byte
			ts     time.Time
			wire   int
			lt     int
			frames uint64 = 1
			err    error
		)
		switch {
		case s.hasPending:
			data, ts, wire, lt, frames = s.pending, s.pendingCI.Timestamp, s.pendingCI.Length, s.pendingLT, s.pendingFrames
			s.hasPending, s.pending = false, nil
		case s.pcap != nil: // classic pcap: no interface call, no CaptureInfo
			data, ts, wire, err = s.pcap.read()
			lt = s.pcap.linkType
		case s.ng != nil:
			data, ts, wire, lt, frames, err = s.ng.read()
		default:
			var ci gopacket.CaptureInfo
			data, ci, lt, frames, err = s.r.next()
			ts, wire = ci.Timestamp, ci.Length
		}
		if err != nil {
			s.err = s.endErr(err)
			return buf, s.err
		}
		if len(data) > maxRecordLen {
			s.index += frames - 1 // endErr names the next frame: this one
			s.err = s.endErr(fmt.Errorf("capture length %d exceeds %d", len(data), maxRecordLen))
			return buf, s.err
		}
		if buf != nil && len(data) > cap(buf)-len(buf) {
			if len(buf) > 0 {
				// The reader's buffer stays as it is until the next
				// read, which comes after the pending frame is used.
				s.pending, s.pendingLT, s.pendingFrames, s.hasPending = data, lt, frames, true
				s.pendingCI = gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: wire}
				return buf, errNoRoom
			}
			buf = make([]byte, 0, len(data))
		}
		s.counted(frames, ts)
		if lt != s.lastLink {
			s.addLink(lt)
			s.lastLink = lt
		}
		if s.filter != nil && !s.filter.match(lt, data, gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: wire}) {
			s.stats.Filtered++
			continue
		}
		if buf != nil {
			n := len(buf)
			buf = append(buf, data...)
			data = buf[n:len(buf):len(buf)]
		}
		// The fast path first, called directly (Decode would call it
		// too, a call deeper); decode is the general path.
		if !s.dec.fast(lt, data, p) {
			if err := s.decode(lt, data, p); err != nil {
				countDecodeErr(&s.stats, s.dec, err, s.input, s.index)
				if buf != nil {
					buf = buf[:len(buf)-len(data)]
				}
				continue
			}
		}
		s.took(p, ts, len(data), wire)
		return buf, nil
	}
}

// took finishes a TCP packet that Decode filled: the fields it leaves to
// the Source, and the counters.
func (s *fileSource) took(p *Packet, ts time.Time, capLen, wire int) {
	p.Index = s.index
	p.Input = s.input
	p.FlowHash, p.RouteHash = s.dec.hash, s.dec.route // when the fast path hashed the frame; else 0
	p.Time = ts
	p.CapLen = capLen
	p.WireLen = wire
	s.stats.TCPPackets++
	if capLen < wire && p.Truncated() {
		s.stats.SnapCut++
	}
}

// nextPcap is next's common case on a classic pcap file, in a function of
// its own: no filter, nothing pending, the record whole in the reader's
// window, room for it in buf (or buf nil: the frame is left in the
// window, as next leaves it), and a frame the fast path decodes. It
// returns false with nothing read or changed otherwise, and next then
// does the same work its general way.
func (s *fileSource) nextPcap(p *Packet, buf []byte) ([]byte, bool) {
	r := s.pcap
	if r == nil || s.filter != nil || s.hasPending || s.err != nil {
		return buf, false
	}
	rec := r.buf[r.start:r.end]
	if len(rec) < 16 {
		return buf, false
	}
	n := r.u32(rec[8:12])
	if n > maxRecordLen || int(n) > len(rec)-16 || buf != nil && int(n) > cap(buf)-len(buf) {
		return buf, false
	}
	k := len(buf)
	data := rec[16 : 16+int(n) : 16+int(n)]
	if buf != nil {
		buf = append(buf, data...)
		data = buf[k:len(buf):len(buf)]
	}
	if !s.dec.fast(r.linkType, data, p) {
		return buf[:k], false
	}
	r.start += 16 + int(n)
	ts, wire := r.header(rec)
	s.counted(1, ts)
	s.took(p, ts, int(n), wire)
	return buf, true
}

// counted counts a record read (frames: the frame numbers it takes, see
// frameReader), stamped ts.
func (s *fileSource) counted(frames uint64, ts time.Time) {
	s.index += frames
	s.stats.Packets++
	if s.stats.Packets == 1 {
		s.stats.FirstTime = ts
	}
	s.stats.LastTime = ts
}

// decode runs the decoder's general path (next has tried the fast path),
// except on link types it already refused (its error for those names the
// link type, which costs an allocation).
func (s *fileSource) decode(lt int, data []byte, p *Packet) error {
	if slices.Contains(s.unsupported, lt) {
		s.dec.hidden = HiddenReason{Kind: HiddenLinkType, Value: uint32(lt)}
		return errUnsupportedFrame
	}
	err := s.dec.decode(lt, data, p)
	if err != nil && errors.Is(err, ErrUnsupportedLinkType) {
		s.unsupported = append(s.unsupported, lt)
	}
	return err
}

var errUnsupportedFrame = fmt.Errorf("%w of the frame's interface", ErrUnsupportedLinkType)

// countDecodeErr counts a frame d did not turn into a TCP packet, and
// where it stopped when that may hide TCP.
func countDecodeErr(st *Stats, d *Decoder, err error, input int, index uint64) {
	if d.hidden.Kind != 0 {
		st.addHidden(d.hidden)
	}
	if err == ErrNotTCP {
		st.NonTCP++
		return
	}
	st.Undecodable++
	if len(st.FirstErrors) < maxFirstErrors {
		st.FirstErrors = append(st.FirstErrors, FrameError{Input: input, Index: index, Err: err.Error()})
	}
}

// endErr turns a reader error into the Source's final error.
func (s *fileSource) endErr(err error) error {
	if err == io.EOF {
		return io.EOF
	}
	s.stats.Truncated = true
	frame := s.index + 1
	if err == io.ErrUnexpectedEOF {
		return fmt.Errorf("capture: %s: frame %d: %w: record cut short", s.name, frame, ErrTruncated)
	}
	return fmt.Errorf("capture: %s: frame %d: %w: corrupt record: %s", s.name, frame, ErrTruncated, lowerFirst(err.Error()))
}

func (s *fileSource) addLink(lt int) {
	if slices.Contains(s.links, lt) {
		return
	}
	s.links = append(s.links, lt)
}

// Stats implements Source.
func (s *fileSource) Stats() Stats {
	st := s.stats
	st.FirstErrors = append([]FrameError(nil), s.stats.FirstErrors...)
	st.Hidden = append([]HiddenCount(nil), s.stats.Hidden...)
	return st
}

// LinkTypes implements LinkTyper.
func (s *fileSource) LinkTypes() []int { return append([]int(nil), s.links...) }

// addsLinkTypes: only a classic pcap file has one link type, in its header.
func (s *fileSource) addsLinkTypes() bool {
	_, pcap := s.r.(*pcapRecordReader)
	return !pcap
}

// Close implements Source. Standard input is left open.
func (s *fileSource) Close() error {
	if s.err == nil {
		s.err = io.EOF
	}
	if s.ahead != nil {
		s.ahead.Close()
	}
	if s.file == nil {
		return nil
	}
	err := s.file.Close()
	s.file = nil
	if err != nil {
		return fmt.Errorf("capture: %s: %w", s.name, pathErr(err))
	}
	return nil
}

// pcapReader reads classic pcap through pcapgo. Files use
// pcapRecordReader; this one is the reference it is tested against.
type pcapReader struct {
	r        *pcapgo.Reader
	linkType int
}

func (r *pcapReader) next() ([]byte, gopacket.CaptureInfo, int, uint64, error) {
	data, ci, err := r.r.ZeroCopyReadPacketData()
	return data, ci, r.linkType, 1, err
}

// Compile-time checks.
var (
	_ Source    = (*fileSource)(nil)
	_ LinkTyper = (*fileSource)(nil)
)
