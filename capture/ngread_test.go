package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// ngPacket is one packet as a pcapng reader gives it.
type ngPacket struct {
	data     []byte
	ts       time.Time
	wire, lt int
}

// ngReadAll reads raw with ngRecordReader to its end; err is the error
// that ended it (io.EOF at a clean end).
func ngReadAll(raw []byte) (pkts []ngPacket, err error) {
	r := newNgRecordReader(bytes.NewReader(raw))
	if err := r.header(); err != nil {
		return nil, err
	}
	for {
		data, ts, wire, lt, _, err := r.read()
		if err != nil {
			return pkts, err
		}
		pkts = append(pkts, ngPacket{bytes.Clone(data), ts, wire, lt})
	}
}

// pcapgoReadAll reads raw with pcapgo's NgReader, as rstscope did before
// ngRecordReader, to its end or first error.
func pcapgoReadAll(raw []byte) (pkts []ngPacket, err error) {
	r, err := pcapgo.NewNgReader(bytes.NewReader(raw), pcapgo.NgReaderOptions{WantMixedLinkType: true, SkipUnknownVersion: true})
	if err != nil {
		return nil, err
	}
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			return pkts, err
		}
		lt := -1
		if len(ci.AncillaryData) > 0 {
			if l, ok := ci.AncillaryData[0].(layers.LinkType); ok {
				lt = int(l)
			}
		}
		pkts = append(pkts, ngPacket{data, ci.Timestamp, ci.Length, lt})
	}
}

// pcapngSuite lists the pcapng reader test suite that gopacket's module
// carries (made with hadrielk/pcapng-test-generator: both byte orders,
// simple and obsolete packet blocks, several sections and interfaces,
// options of every kind, custom blocks), from the module cache.
func pcapngSuite(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/gopacket/gopacket").Output()
	if err != nil {
		t.Fatalf("go list gopacket's module: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "pcapgo", "tests")
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*.pcapng"))
	if len(files) < 50 {
		t.Fatalf("%d pcapng files in %s, want the suite's 56", len(files), dir)
	}
	return files
}

// TestNgRecordReader_pcapgo: on the pcapng test suite and the corpus's
// pcapng files, ngRecordReader returns every packet pcapgo returns, the
// same bytes, timestamp, original length and link type, and ends where
// pcapgo ends. Where pcapgo stops with an error, the reader must either
// stop at the same packet or read on through what pcapgo refuses for
// reasons rstscope does not share (checked by name below).
func TestNgRecordReader_pcapgo(t *testing.T) {
	files := pcapngSuite(t)
	corpus, _ := filepath.Glob(filepath.Join(corpusDir, "*", "*"))
	more, _ := filepath.Glob(filepath.Join(corpusDir, "*", "*", "*", "*"))
	for _, f := range append(corpus, more...) {
		if raw, err := os.ReadFile(f); err == nil && len(raw) > 4 && binary.LittleEndian.Uint32(raw) == magicPcapng {
			files = append(files, f)
		}
	}
	packets := 0
	for _, f := range files {
		name := strings.TrimPrefix(f, filepath.Dir(filepath.Dir(f))+"/")
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		want, wantErr := pcapgoReadAll(raw)
		got, gotErr := ngReadAll(raw)
		packets += len(got)
		if len(got) < len(want) {
			t.Errorf("%s: %d packets (%v), pcapgo reads %d", name, len(got), gotErr, len(want))
		}
		for i := range min(len(got), len(want)) {
			g, w := got[i], want[i]
			if !bytes.Equal(g.data, w.data) || !g.ts.Equal(w.ts) || g.wire != w.wire || g.lt != w.lt {
				t.Errorf("%s: packet %d: %d bytes at %v, wire %d, link type %d; pcapgo: %d bytes at %v, wire %d, link type %d",
					name, i+1, len(g.data), g.ts, g.wire, g.lt, len(w.data), w.ts, w.wire, w.lt)
				break
			}
		}
		switch {
		case wantErr == io.EOF && gotErr != io.EOF:
			t.Errorf("%s: ends with %v, pcapgo reads it whole", name, gotErr)
		case wantErr != io.EOF && len(got) > len(want):
			t.Logf("%s: reads %d packets past pcapgo's error %q", name, len(got)-len(want), wantErr)
		case wantErr != io.EOF && gotErr == io.EOF:
			t.Logf("%s: reads to the end where pcapgo stops (%q)", name, wantErr)
		}
	}
	t.Logf("%d files, %d packets", len(files), packets)
}

// TestNgRecordReader_timestamps: if_tsresol (decimal and binary) and
// if_tsoffset in both byte orders, against timestamps worked out by hand.
func TestNgRecordReader_timestamps(t *testing.T) {
	for _, c := range []struct {
		name   string
		resol  byte
		offset int64
		stamp  uint64
		want   time.Time
	}{
		{"default_micro", 0, 0, 1_700_000_000_123_456, time.Unix(1_700_000_000, 123_456_000)},
		{"nano", 9, 0, 1_700_000_000_123_456_789, time.Unix(1_700_000_000, 123_456_789)},
		{"milli", 3, 0, 1_700_000_000_123, time.Unix(1_700_000_000, 123_000_000)},
		{"pico", 12, 0, 1_700_000_000_123_456_789_012 % (1 << 63), time.Time{}}, // worked out below
		{"binary_2^-10", 0x80 | 10, 0, 1_700_000_000<<10 | 512, time.Unix(1_700_000_000, 500_000_000)},
		{"binary_2^-32", 0x80 | 32, 0, 1_700_000_000<<32 | 1<<30, time.Unix(1_700_000_000, 250_000_000)},
		{"offset", 6, 1_000_000_000, 700_000_000_000_001, time.Unix(1_700_000_000, 1_000)},
		{"negative_offset", 6, -1, 1_700_000_001_000_000, time.Unix(1_700_000_000, 0)},
	} {
		if c.name == "pico" {
			s := c.stamp / 1e12
			c.want = time.Unix(int64(s), int64(c.stamp%1e12/1e3))
		}
		for _, big := range []bool{false, true} {
			raw := ngFile(big, c.resol, c.offset, c.stamp)
			pkts, err := ngReadAll(raw)
			if err != io.EOF || len(pkts) != 1 {
				t.Errorf("%s (big-endian %v): %d packets, %v", c.name, big, len(pkts), err)
				continue
			}
			if !pkts[0].ts.Equal(c.want) || pkts[0].ts.Location() != time.UTC {
				t.Errorf("%s (big-endian %v): %v, want %v", c.name, big, pkts[0].ts, c.want.UTC())
			}
		}
	}
}

// ngFile is a pcapng file of one section, one Ethernet interface with the
// given if_tsresol (0: none) and if_tsoffset (0: none), and one enhanced
// packet block of 60 bytes stamped stamp, in either byte order.
func ngFile(big bool, resol byte, offset int64, stamp uint64) []byte {
	var o binary.ByteOrder = binary.LittleEndian
	if big {
		o = binary.BigEndian
	}
	block := func(typ uint32, body []byte) []byte {
		n := 12 + (len(body)+3)&^3
		b := make([]byte, n)
		o.PutUint32(b, typ)
		o.PutUint32(b[4:], uint32(n))
		copy(b[8:], body)
		o.PutUint32(b[n-4:], uint32(n))
		return b
	}
	shb := make([]byte, 16)
	o.PutUint32(shb, ngByteOrder)
	o.PutUint16(shb[4:], 1)
	binary.LittleEndian.PutUint64(shb[8:], ^uint64(0))
	idb := make([]byte, 8)
	o.PutUint16(idb, linkEthernet)
	if resol != 0 {
		opt := make([]byte, 8)
		o.PutUint16(opt, 9)
		o.PutUint16(opt[2:], 1)
		opt[4] = resol
		idb = append(idb, opt...)
	}
	if offset != 0 {
		opt := make([]byte, 12)
		o.PutUint16(opt, 14)
		o.PutUint16(opt[2:], 8)
		o.PutUint64(opt[4:], uint64(offset))
		idb = append(idb, opt...)
	}
	idb = append(idb, 0, 0, 0, 0) // end of options
	epb := make([]byte, 20+60)
	o.PutUint32(epb[4:], uint32(stamp>>32))
	o.PutUint32(epb[8:], uint32(stamp))
	o.PutUint32(epb[12:], 60)
	o.PutUint32(epb[16:], 60)
	return joinBytes(block(magicPcapng, shb), block(ngBlockIface, idb), block(ngBlockEnhanced, epb))
}

// TestNgRecordReader_corrupt: blocks that make no sense end the input
// with an error naming what is wrong, after the packets before them.
func TestNgRecordReader_corrupt(t *testing.T) {
	frame := joinBytes(sllHeader(0x0800), inner4(t))
	good := joinBytes(ngSHB(), ngIDB(linkSLL), ngEPB(frame))
	odd := ngEPB(frame)
	binary.LittleEndian.PutUint32(odd[4:], uint32(len(odd)+2))
	tiny := ngBlock(ngBlockEnhanced, make([]byte, 8))
	noIface := ngEPB(frame)
	binary.LittleEndian.PutUint32(noIface[8:], 3)
	badSHB := ngSHB()
	binary.LittleEndian.PutUint32(badSHB[8:], 0x11223344)
	fine := ngIDB(linkSLL)
	fine = append(fine[:16], 9, 0, 1, 0, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0) // if_tsresol 10^-64
	binary.LittleEndian.PutUint32(fine[4:], uint32(len(fine)))
	binary.LittleEndian.PutUint32(fine[len(fine)-4:], uint32(len(fine)))
	spbFirst := joinBytes(ngSHB(), ngBlock(ngBlockSimple, append([]byte{60, 0, 0, 0}, make([]byte, 60)...)))
	for _, c := range []struct {
		name, want string
		raw        []byte
	}{
		{"length_not_multiple_of_4", "pcapng block of type 0x6 has length 122 (at least 12, a multiple of 4)", joinBytes(good, odd)},
		{"packet_block_too_short", "pcapng packet block of 20 bytes (at least 32)", joinBytes(good, tiny)},
		{"unknown_interface", "pcapng packet block on interface 3, of 1 in its section", joinBytes(good, noIface)},
		{"byte_order", "pcapng section header with byte-order magic 0x11223344", joinBytes(good, badSHB)},
		{"resolution", "pcapng interface 1: timestamp resolution 10^-64 is too fine", joinBytes(good, fine)},
		{"cut", "unexpected EOF", joinBytes(good, ngEPB(frame)[:40])},
		{"simple_before_interface", "pcapng simple packet block before any interface block", spbFirst},
	} {
		pkts, err := ngReadAll(c.raw)
		want := 1
		if c.name == "simple_before_interface" {
			want = 0
		}
		if len(pkts) != want || err == nil || err.Error() != c.want {
			t.Errorf("%s: %d packets, %v; want %d, %q", c.name, len(pkts), err, want, c.want)
		}
	}
	if _, err := ngReadAll(joinBytes(good, ngSHB()[:10])); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("a section header cut at 10 bytes: %v, want unexpected EOF", err)
	}
}

// TestNgRecordReader_simpleAndObsoleteBlocks: an obsolete packet block
// names its interface in 16 bits (a drop count follows); a simple packet
// block holds at most what its block and interface 0's snap length hold,
// whatever original length it claims.
func TestNgRecordReader_simpleAndObsoleteBlocks(t *testing.T) {
	frame := make([]byte, 100)
	for i := range frame {
		frame[i] = byte(i)
	}
	idb0 := ngIDB(linkEthernet)
	binary.LittleEndian.PutUint32(idb0[12:], 64) // snap length 64
	pb := make([]byte, 20, 120)
	binary.LittleEndian.PutUint16(pb, 1)     // interface 1
	binary.LittleEndian.PutUint16(pb[2:], 5) // drops
	binary.LittleEndian.PutUint32(pb[8:], 1_000_000)
	binary.LittleEndian.PutUint32(pb[12:], 30)
	binary.LittleEndian.PutUint32(pb[16:], 1500)
	pb = append(pb, frame[:30]...)
	spb := func(orig uint32, held int) []byte {
		b := binary.LittleEndian.AppendUint32(nil, orig)
		return ngBlock(ngBlockSimple, append(b, frame[:held]...))
	}
	raw := joinBytes(ngSHB(), idb0, ngIDB(linkSLL), ngBlock(ngBlockPacket, pb), spb(100, 40), spb(100, 100), spb(20, 20))
	pkts, err := ngReadAll(raw)
	if err != io.EOF || len(pkts) != 4 {
		t.Fatalf("%d packets, %v; want 4 and the end", len(pkts), err)
	}
	for i, w := range []struct{ n, wire, lt int }{{30, 1500, linkSLL}, {40, 100, linkEthernet}, {64, 100, linkEthernet}, {20, 20, linkEthernet}} {
		p := pkts[i]
		if len(p.data) != w.n || !bytes.Equal(p.data, frame[:w.n]) || p.wire != w.wire || p.lt != w.lt {
			t.Errorf("packet %d: %d bytes, wire %d, link type %d; want %d, %d, %d", i+1, len(p.data), p.wire, p.lt, w.n, w.wire, w.lt)
		}
	}
	if want := time.Unix(1, 0); !pkts[0].ts.Equal(want) || !pkts[1].ts.IsZero() {
		t.Errorf("times %v, %v; want %v and none (a simple block has no timestamp)", pkts[0].ts, pkts[1].ts, want)
	}
}
