package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// ngBlock is a little-endian pcapng block of type typ with body (padded).
func ngBlock(typ uint32, body []byte) []byte {
	n := 12 + (len(body)+3)&^3
	b := make([]byte, n)
	binary.LittleEndian.PutUint32(b, typ)
	binary.LittleEndian.PutUint32(b[4:], uint32(n))
	copy(b[8:], body)
	binary.LittleEndian.PutUint32(b[n-4:], uint32(n))
	return b
}

// ngSHB is a section header block of unknown section length.
func ngSHB() []byte {
	body := make([]byte, 16)
	binary.LittleEndian.PutUint32(body, 0x1a2b3c4d)
	binary.LittleEndian.PutUint16(body[4:], 1)
	binary.LittleEndian.PutUint64(body[8:], ^uint64(0))
	return ngBlock(magicPcapng, body)
}

// ngIDB is an interface description block of link type lt.
func ngIDB(lt uint16) []byte {
	body := make([]byte, 8)
	binary.LittleEndian.PutUint16(body, lt)
	binary.LittleEndian.PutUint32(body[4:], maxRecordLen)
	return ngBlock(ngBlockIface, body)
}

// ngEPB is an enhanced packet block on interface 0 with frame.
func ngEPB(frame []byte) []byte {
	body := make([]byte, 20, 20+len(frame))
	binary.LittleEndian.PutUint32(body[12:], uint32(len(frame)))
	binary.LittleEndian.PutUint32(body[16:], uint32(len(frame)))
	return ngBlock(ngBlockEnhanced, append(body, frame...))
}

// ngNRB is a name resolution block of n IPv4 records, each naming one
// address, then an end record.
func ngNRB(n int) []byte {
	var body []byte
	for i := range n {
		rec := []byte{1, 0, 8, 0, 10, byte(i >> 16), byte(i >> 8), byte(i), 'h', 'o', 's', 0}
		body = append(body, rec...)
	}
	return ngBlock(ngBlockNames, append(body, 0, 0, 0, 0))
}

func gzipBytes(t testing.TB, parts func(w io.Writer)) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	parts(zw)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// repeatReader gives head, then block repeated n times, without holding
// them: the input of a 5 M-block file without 100 MB in memory. It counts
// the bytes read from it.
type repeatReader struct {
	head, block []byte
	n           int
	off         int // in the current piece
	read        int64
}

func (r *repeatReader) Read(p []byte) (int, error) {
	total := 0
	for len(p) > 0 {
		piece := r.head
		if len(piece) == 0 {
			if r.n == 0 {
				break
			}
			piece = r.block
		}
		c := copy(p, piece[r.off:])
		p, r.off, total = p[c:], r.off+c, total+c
		if r.off == len(piece) {
			r.off = 0
			if len(r.head) > 0 {
				r.head = nil
			} else {
				r.n--
			}
		}
	}
	r.read += int64(total)
	if total == 0 {
		return 0, io.EOF
	}
	return total, nil
}

// readMeasured reads a Source made from r to its end and returns the
// packets read, the final error and the bytes allocated meanwhile.
func readMeasured(t *testing.T, r io.Reader) (int, error, uint64) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s, err := newFileSource(r, nil, "hostile.pcapng", 0, FileOptions{})
	if err != nil {
		runtime.ReadMemStats(&after)
		return 0, err, after.TotalAlloc - before.TotalAlloc
	}
	n := 0
	var p Packet
	for {
		if err = s.Next(&p); err != nil {
			break
		}
		n++
	}
	runtime.ReadMemStats(&after)
	if st := s.Stats(); err != io.EOF && !st.Truncated {
		t.Errorf("Stats.Truncated false after %v", err)
	}
	return n, err, after.TotalAlloc - before.TotalAlloc
}

// TestOpenFile_pcapngBounds: pcapng inputs that claim more than they hold
// (issue 14.1) end as corrupt at the block past a bound, with the packets
// before it returned and the memory allocated bounded; measured with
// runtime.MemStats.TotalAlloc, which counts every byte allocated. Half a
// million name records, which nothing keeps, are read past.
func TestOpenFile_pcapngBounds(t *testing.T) {
	frame := joinBytes(sllHeader(0x0800), inner4(t))
	const limit = 64 << 20 // bytes allocated, for any of these inputs
	for _, c := range []struct {
		name    string
		input   func() io.Reader
		packets int
		reason  string
	}{
		{"name_records_gzip", func() io.Reader {
			return bytes.NewReader(gzipBytes(t, func(w io.Writer) {
				w.Write(joinBytes(ngSHB(), ngIDB(linkSLL), ngEPB(frame)))
				nrb := ngNRB(5000)
				for range 100 { // 500,000 records, 6 MB
					w.Write(nrb)
				}
				w.Write(ngEPB(frame))
			}))
		}, 2, ""}, // nothing of them is kept: read past
		{"caplen_0xfffffff0_gzip", func() io.Reader {
			return bytes.NewReader(gzipBytes(t, func(w io.Writer) {
				w.Write(joinBytes(ngSHB(), ngIDB(linkSLL), ngEPB(frame)))
				hdr := ngEPB(nil)[:28]
				binary.LittleEndian.PutUint32(hdr[4:], 0xfffffffc)
				binary.LittleEndian.PutUint32(hdr[20:], 0xfffffff0)
				binary.LittleEndian.PutUint32(hdr[24:], 0xfffffff0)
				w.Write(hdr)
				zeros := make([]byte, 1<<20)
				for range 64 { // 64 MB of zeros: the start of the claimed record
					w.Write(zeros)
				}
			}))
		}, 1, "pcapng packet block of 4294967292 bytes exceeds 327712"},
		{"caplen_beyond_block", func() io.Reader {
			bad := ngEPB(frame)
			binary.LittleEndian.PutUint32(bad[20:], 0xfffffff0)
			return bytes.NewReader(joinBytes(ngSHB(), ngIDB(linkSLL), ngEPB(frame), bad, ngEPB(frame)))
		}, 1, "pcapng packet block of 120 bytes claims capture length 4294967280 (at most 88)"},
		{"5M_interface_blocks", func() io.Reader {
			return &repeatReader{head: joinBytes(ngSHB(), ngIDB(linkSLL), ngEPB(frame)), block: ngIDB(linkEthernet), n: 5_000_000}
		}, 1, "pcapng interfaces exceed 4096"},
		{"huge_block", func() io.Reader {
			big := make([]byte, 12)
			binary.LittleEndian.PutUint32(big, 0x0bad)
			binary.LittleEndian.PutUint32(big[4:], 0x7ffffff0)
			return io.MultiReader(bytes.NewReader(joinBytes(ngSHB(), ngIDB(linkSLL), ngEPB(frame), big)), &repeatReader{block: make([]byte, 1<<20), n: 64})
		}, 1, "pcapng block of type 0xbad and 2147483632 bytes exceeds 16777216"},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := c.input()
			n, err, alloc := readMeasured(t, in)
			t.Logf("%d packets, %v; %.1f MiB allocated", n, err, float64(alloc)/(1<<20))
			if n != c.packets {
				t.Errorf("got %d packets, want %d (the ones before the bound)", n, c.packets)
			}
			if c.reason == "" {
				if err != io.EOF {
					t.Errorf("got error %v, want the end of the input", err)
				}
			} else if !errors.Is(err, ErrTruncated) || !strings.HasSuffix(err.Error(), "corrupt record: "+c.reason) {
				t.Errorf("got error %v, want ErrTruncated ending %q", err, "corrupt record: "+c.reason)
			}
			if alloc > limit {
				t.Errorf("allocated %d bytes, want at most %d", alloc, limit)
			}
			if r, ok := in.(*repeatReader); ok && r.n < 4_000_000 {
				t.Errorf("read %d bytes (%d blocks left of 5 M): the input was read far past the bound", r.read, r.n)
			}
		})
	}
}

// TestNgRecordReader_chunks: the pcapng reader returns the same packets,
// frame numbers and interfaces however the input is cut into reads (one
// byte, a few, a window and more), with name records, custom blocks and
// a second interface between the packets.
func TestNgRecordReader_chunks(t *testing.T) {
	frame := joinBytes(sllHeader(0x0800), inner4(t))
	custom := ngBlock(ngBlockCustom, []byte{1, 2, 3, 4, 5})
	big := make([]byte, 3*ngWindow) // a block longer than the window
	data := joinBytes(ngSHB(), ngIDB(linkSLL), ngNRB(1000), ngEPB(frame), ngIDB(linkEthernet), custom, ngBlock(0x99, big), custom, ngNRB(999), ngEPB(frame), ngNRB(0))
	for _, chunk := range []int{1, 3, 7, 64, 4096, len(data)} {
		r := newNgRecordReader(&chunkReader{data: data, chunk: chunk})
		if err := r.header(); err != nil {
			t.Fatalf("chunk %d: header: %v", chunk, err)
		}
		var frames []uint64
		for {
			got, _, _, lt, n, err := r.read()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("chunk %d: %v", chunk, err)
			}
			if !bytes.Equal(got, frame) || lt != linkSLL {
				t.Errorf("chunk %d: frame % x (link type %d), want % x (%d)", chunk, got, lt, frame, linkSLL)
			}
			frames = append(frames, n)
		}
		if !slicesEqual(frames, []uint64{1, 3}) || r.interfaces != 2 || len(r.ifaces) != 2 {
			t.Errorf("chunk %d: frames %v, %d interfaces (%d in the section); want [1 3], 2, 2", chunk, frames, r.interfaces, len(r.ifaces))
		}
	}
}

// chunkReader reads data at most chunk bytes at a time.
type chunkReader struct {
	data  []byte
	chunk int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.chunk)], c.data)
	c.data = c.data[n:]
	return n, nil
}

// TestOpenFile_pcapngNameRecords: name resolution blocks are passed over;
// every packet around them is read.
func TestOpenFile_pcapngNameRecords(t *testing.T) {
	frame := joinBytes(sllHeader(0x0800), inner4(t))
	data := joinBytes(ngSHB(), ngIDB(linkSLL), ngEPB(frame), ngNRB(3000), ngEPB(frame), ngNRB(1), ngEPB(frame))
	n, err, _ := readMeasured(t, bytes.NewReader(data))
	if n != 3 || err != io.EOF {
		t.Errorf("got %d packets and %v, want 3 and EOF", n, err)
	}
}

// pcapFile is a classic little-endian microsecond pcap of link type lt with
// records of the given frames; wire[i] > 0 sets record i's original length.
func pcapFile(lt uint32, frames [][]byte, wire map[int]uint32) []byte {
	h := make([]byte, 24)
	binary.LittleEndian.PutUint32(h, magicPcapMicro)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], maxRecordLen)
	binary.LittleEndian.PutUint32(h[20:], lt)
	for i, f := range frames {
		r := make([]byte, 16)
		binary.LittleEndian.PutUint32(r, uint32(1700000000+i))
		binary.LittleEndian.PutUint32(r[8:], uint32(len(f)))
		w := uint32(len(f))
		if wire[i] > 0 {
			w = wire[i]
		}
		binary.LittleEndian.PutUint32(r[12:], w)
		h = append(append(h, r...), f...)
	}
	return h
}

// TestOpenFile_rstsTsharkFinds (issue 14.13): RSTs tshark reports that
// were lost: one in a record whose original length is below its captured
// length (read, wire length raised), and one whose TCP header is split
// over two IPv4 fragments (decoded from the second). Deep stacks (5
// tunnels, 9 VLAN tags, 17 MPLS labels, 20 IPv6 extension headers) are
// test frames of decodeCases, checked against tshark by TestDecode_tshark.
func TestOpenFile_rstsTsharkFinds(t *testing.T) {
	frags := fragmentRST(t, 0x77, 0, 8)
	raw := pcapFile(linkRaw, [][]byte{inner4(t), frags[0], frags[1]}, map[int]uint32{0: 40})
	path := t.TempDir() + "/edge.pcap"
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	pkts, err := readAll(t, openOrFatal(t, path, 0, FileOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	var got []uint64
	for _, p := range pkts {
		if p.Flags.Has(RST) {
			got = append(got, p.Index)
		}
	}
	if !slicesEqual(got, []uint64{1, 3}) {
		t.Errorf("RSTs in frames %v, want [1 3]", got)
	}
	if len(pkts) > 0 && pkts[0].WireLen != pkts[0].CapLen {
		t.Errorf("frame 1: wire length %d, want the captured %d", pkts[0].WireLen, pkts[0].CapLen)
	}
	if tshark, err := exec.LookPath("tshark"); err == nil {
		out, err := exec.Command(tshark, "-n", "-r", path, "-Y", "tcp.flags.reset==1", "-T", "fields", "-e", "frame.number").Output()
		if err != nil {
			t.Fatal(err)
		}
		if f := strings.Fields(string(out)); strings.Join(f, " ") != "1 3" {
			t.Errorf("tshark finds RSTs in frames %v, want 1 3", f)
		}
	}
}
