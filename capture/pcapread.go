package capture

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"time"

	"github.com/gopacket/gopacket"
)

// pcapRecordReader reads the records of a classic pcap file after its
// header (which pcapgo.NewReader has read and checked), with the errors of
// pcapgo's ZeroCopyReadPacketData (except that a record whose original
// length is below its captured length is read, as tshark reads it, with
// the original length raised to the captured one), but without its
// per-record copy: a
// record's bytes are returned where they sit in a large window over the
// input, refilled when a record runs past its end.
type pcapRecordReader struct {
	window
	nanoFactor uint32
	linkType   int
}

// window is a large buffer over an input that a record reader returns
// records from in place (pcapRecordReader, ngRecordReader).
type window struct {
	r          io.Reader
	buf        []byte // buf[start:end] is read but not returned
	start, end int
	rerr       error // the error that stopped reading from r
	big        bool  // big-endian file (or pcapng section)
}

// pcapWindow is the size of the window over a pcap file, so the most a
// read asks for. 128 KiB, not 1 MiB: the reading goroutine is the
// critical path of two flow-table shards, and with smaller reads the
// frames are decoded while the kernel's copy of them is still in the
// core's cache (and a read is less likely to last long enough for the
// scheduler to hand the goroutine's core to a shard). Bench capture, 7
// alternated rounds: 1.36 s against 1.38 s with 1 MiB (flows.shardRing
// 8), 1.43 s against 1.48 s (ring 4).
const pcapWindow = 1 << 17

// pcapMaxCapture is pcapgo's limit once its snaplen is set to
// maxRecordLen: max(snaplen, its eager-read maximum of 256 KiB).
const pcapMaxCapture = maxRecordLen

func newPcapRecordReader(r io.Reader, magic uint32, linkType int) *pcapRecordReader {
	pr := &pcapRecordReader{window: window{r: r, buf: make([]byte, pcapWindow)}, nanoFactor: 1000, linkType: linkType}
	switch magic {
	case magicPcapMicroBE:
		pr.big = true
	case magicPcapNano:
		pr.nanoFactor = 1
	case magicPcapNanoBE:
		pr.big, pr.nanoFactor = true, 1
	}
	return pr
}

// fill makes n bytes available at buf[start:], reading as needed; it
// reports how many are available when fewer.
func (r *window) fill(n int) int {
	if r.end-r.start >= n {
		return n
	}
	if r.start > 0 {
		r.end = copy(r.buf, r.buf[r.start:r.end])
		r.start = 0
	}
	if n > len(r.buf) {
		nb := make([]byte, max(n, 2*len(r.buf)))
		copy(nb, r.buf[:r.end])
		r.buf = nb
	}
	for r.end < n && r.rerr == nil {
		m, err := r.r.Read(r.buf[r.end:])
		r.end += m
		if err != nil {
			r.rerr = err
		} else if m == 0 {
			r.rerr = io.ErrNoProgress
		}
	}
	return min(r.end, n)
}

// short gives io.ReadFull's error for a read of n > 0 bytes that found
// only have: io.EOF when nothing, io.ErrUnexpectedEOF when a part (or the
// reader's own error when it was not an end of file).
func (r *window) short(have int) error {
	if r.rerr != nil && r.rerr != io.EOF {
		return r.rerr
	}
	if have == 0 {
		return io.EOF
	}
	return io.ErrUnexpectedEOF
}

func (r *window) u32(b []byte) uint32 {
	if r.big {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

func (r *window) u16(b []byte) uint16 {
	if r.big {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

// skip passes n bytes of input, reading past the window when it holds
// fewer; it gives short's error when the input ends first.
func (r *window) skip(n uint64) error {
	if uint64(r.end-r.start) >= n {
		r.start += int(n)
		return nil
	}
	n -= uint64(r.end - r.start)
	r.start, r.end = 0, 0
	for n > 0 {
		if r.rerr != nil {
			return r.short(1)
		}
		m, err := r.r.Read(r.buf[:min(uint64(len(r.buf)), n)])
		n -= uint64(m)
		if err != nil {
			r.rerr = err
		} else if m == 0 {
			r.rerr = io.ErrNoProgress
		}
	}
	return nil
}

func (r *pcapRecordReader) next() ([]byte, gopacket.CaptureInfo, int, uint64, error) {
	data, ts, wire, err := r.read()
	return data, gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: wire}, r.linkType, 1, err
}

// header gives a record header's timestamp and original length (h holds
// the header; the captured length is h[8:12]).
func (r *pcapRecordReader) header(h []byte) (ts time.Time, wire int) {
	// The four fields from two loads: a byte swap each when the file is
	// big-endian.
	a, b := binary.LittleEndian.Uint64(h[0:8]), binary.LittleEndian.Uint64(h[8:16])
	sec, frac, n, orig := uint32(a), uint32(a>>32), uint32(b), uint32(b>>32)
	if r.big {
		sec, frac, n, orig = bits.ReverseBytes32(sec), bits.ReverseBytes32(frac), bits.ReverseBytes32(n), bits.ReverseBytes32(orig)
	}
	// pcapgo refuses a record whose original length is below its captured
	// length; libpcap and tshark read it (some writers store a wire length
	// without the FCS or the link header): so do we, with the wire length
	// raised to it.
	return time.Unix(int64(sec), int64(frac*r.nanoFactor)).UTC(), int(max(orig, n))
}

// read returns the next record's frame, timestamp and original length:
// next without the interface call and the CaptureInfo, for fileSource's
// per-packet path. On an error the timestamp and length are those of the
// record header when it was read.
func (r *pcapRecordReader) read() (data []byte, ts time.Time, wire int, err error) {
	// The window holds the record, header and frame, most of the time:
	// fill is called only when it does not.
	if r.end-r.start < 16 {
		if have := r.fill(16); have < 16 {
			return nil, ts, 0, r.short(have)
		}
	}
	h := r.buf[r.start : r.start+16]
	r.start += 16
	ts, wire = r.header(h)
	n := int(r.u32(h[8:12]))
	if n > pcapMaxCapture {
		return nil, ts, wire, fmt.Errorf("capture length exceeds snap length: %d > %d", n, maxRecordLen)
	}
	if r.end-r.start < n {
		if have := r.fill(n); have < n {
			r.start += have
			return nil, ts, wire, r.short(have)
		}
	}
	data = r.buf[r.start : r.start+n : r.start+n]
	r.start += n
	return data, ts, wire, nil
}
