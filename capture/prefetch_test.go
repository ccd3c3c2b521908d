package capture

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/rstscope/rstscope/internal/pcapgen"
)

// corpusPcaps lists the classic pcap files of the corpus (by magic).
func corpusPcaps(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(corpusDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		var m [4]byte
		if _, err := io.ReadFull(f, m[:]); err != nil {
			return nil
		}
		switch binary.LittleEndian.Uint32(m[:]) {
		case magicPcapMicro, magicPcapMicroBE, magicPcapNano, magicPcapNanoBE:
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 10 {
		t.Fatalf("got %d pcap files in %s, want at least 10", len(out), corpusDir)
	}
	return out
}

// record is what a frameReader returned for one call.
type record struct {
	data []byte
	ci   gopacket.CaptureInfo
	lt   int
	err  string
}

// readRecords reads raw (a pcap file) with pcapgo (want) or
// pcapRecordReader (got) until an error.
func readRecords(t *testing.T, raw []byte, ours bool) []record {
	t.Helper()
	br := bufio.NewReaderSize(bytes.NewReader(raw), readBufferSize)
	var magic uint32
	if b, err := br.Peek(4); err == nil {
		magic = binary.LittleEndian.Uint32(b)
	}
	pr, err := pcapgo.NewReader(br)
	if err != nil {
		return []record{{err: "header: " + err.Error()}}
	}
	var r frameReader
	if ours {
		r = newPcapRecordReader(br, magic, int(pr.LinkType()))
	} else {
		pr.SetSnaplen(maxRecordLen)
		r = &pcapReader{r: pr, linkType: int(pr.LinkType())}
	}
	var out []record
	for {
		data, ci, lt, _, err := r.next()
		rec := record{data: append([]byte(nil), data...), ci: ci, lt: lt}
		if err != nil {
			rec = record{err: err.Error()}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				rec.err = "end: " + rec.err
			}
			return append(out, rec)
		}
		out = append(out, rec)
	}
}

// TestPcapRecordReader_matchesPcapgo reads every classic pcap of the corpus,
// whole, cut at many offsets and with corrupt record lengths, with our
// reader and with pcapgo's: the records (bytes, times, lengths) and the
// error that ends each input must be the same.
func TestPcapRecordReader_matchesPcapgo(t *testing.T) {
	for _, path := range corpusPcaps(t) {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		variants := map[string][]byte{"whole": raw}
		for _, n := range []int{24, 25, 30, 39, 40, 41, 57, 100, len(raw) / 3, len(raw) / 2, len(raw) - 1, len(raw) - 17} {
			if n > 0 && n < len(raw) {
				variants["cut_"+itoa(n)] = raw[:n]
			}
		}
		if len(raw) >= 40 {
			for name, v := range map[string]uint32{"caplen_huge": 1 << 20, "caplen_over_wire": 0xfffff, "caplen_max": maxRecordLen + 4} {
				b := append([]byte(nil), raw...)
				order := binary.ByteOrder(binary.LittleEndian)
				if m := binary.LittleEndian.Uint32(b); m == magicPcapMicroBE || m == magicPcapNanoBE {
					order = binary.BigEndian
				}
				order.PutUint32(b[24+8:], v)
				if name == "caplen_max" {
					order.PutUint32(b[24+12:], v+10)
				}
				variants[name] = b
			}
		}
		for name, b := range variants {
			want := readRecords(t, b, false)
			got := readRecords(t, b, true)
			if len(got) != len(want) {
				t.Errorf("%s %s: got %d records, want %d (last got %q, want %q)", path, name, len(got), len(want), got[len(got)-1].err, want[len(want)-1].err)
				continue
			}
			for i := range want {
				if !reflect.DeepEqual(got[i], want[i]) {
					t.Errorf("%s %s: record %d: got %+v, want %+v", path, name, i+1, got[i], want[i])
					break
				}
			}
		}
	}
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// drain reads s to its end, copying each packet's slices out, and returns
// the packets, the final error and the Stats after every packet.
func drain(t *testing.T, s Source, max int) ([]Packet, error, []Stats) {
	t.Helper()
	var out []Packet
	var stats []Stats
	for max == 0 || len(out) < max {
		var p Packet
		err := s.Next(&p)
		if err != nil {
			stats = append(stats, s.Stats())
			return out, err, stats
		}
		// Prefetch sets FlowHash on every packet, a Source when its
		// fast path decoded the frame: where set, it is FlowHash.
		if _, pre := s.(*prefetcher); (pre || p.FlowHash != 0) && p.FlowHash != FlowHash(p.Src, p.Dst) {
			t.Errorf("frame %d: FlowHash %#x, want FlowHash(%v, %v) = %#x", p.Index, p.FlowHash, p.Src, p.Dst, FlowHash(p.Src, p.Dst))
		}
		if p.RouteHash != 0 && p.RouteHash != RouteHash(p.Src, p.Dst) {
			t.Errorf("frame %d: RouteHash %#x, want RouteHash(%v, %v) = %#x", p.Index, p.RouteHash, p.Src, p.Dst, RouteHash(p.Src, p.Dst))
		}
		p.FlowHash = 0 // compare the rest
		p.Payload = append([]byte(nil), p.Payload...)
		p.Frame = append([]byte(nil), p.Frame...)
		out = append(out, p)
		stats = append(stats, s.Stats())
	}
	return out, nil, stats
}

// TestPrefetch_sameAsSource reads every corpus capture (pcap, pcapng,
// gzip, cut ones) directly and through Prefetch: the packets, the error
// that ends the input, Stats after every packet and LinkTypes must be the
// same.
func TestPrefetch_sameAsSource(t *testing.T) {
	var paths []string
	err := filepath.WalkDir(corpusDir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(path, ".md") && !strings.HasSuffix(path, ".tsv") {
			paths = append(paths, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// A cut pcap and a cut pcapng: the end error must come after the
	// same packets.
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil || len(raw) < 2000 {
			continue
		}
		cut := filepath.Join(t.TempDir(), "cut_"+filepath.Base(p))
		if err := os.WriteFile(cut, raw[:len(raw)*2/3], 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, cut)
	}
	checked := 0
	for _, path := range paths {
		direct, err := OpenFile(path, 0, FileOptions{})
		if err != nil {
			continue // not a capture this reader opens
		}
		src, err := OpenFile(path, 0, FileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pre := Prefetch(src)
		if _, ok := pre.(*prefetcher); !ok {
			t.Fatalf("%s: Prefetch gave %T, want *prefetcher", path, pre)
		}
		want, wantErr, wantStats := drain(t, direct, 0)
		got, gotErr, gotStats := drain(t, pre, 0)
		checked++
		// NextRef, as the pipeline reads a prefetched file, gives the
		// same packets and stats.
		src2, err := OpenFile(path, 0, FileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		byRef := Prefetch(src2)
		ref, refErr, refStats := drain(t, viaRef{byRef.(*prefetcher)}, 0)
		if fmtErr(refErr) != fmtErr(wantErr) || !reflect.DeepEqual(ref, want) || !reflect.DeepEqual(refStats, wantStats) {
			t.Errorf("%s: NextRef: got %d packets (end %v), want %d (end %v), or their stats differ", path, len(ref), refErr, len(want), wantErr)
		}
		byRef.Close()
		if fmtErr(gotErr) != fmtErr(wantErr) {
			t.Errorf("%s: got end %v, want %v", path, gotErr, wantErr)
		}
		if len(got) != len(want) {
			t.Errorf("%s: got %d packets, want %d", path, len(got), len(want))
		} else {
			for i := range want {
				if !reflect.DeepEqual(got[i], want[i]) {
					t.Errorf("%s: frame %d: got %+v, want %+v", path, want[i].Index, got[i], want[i])
					break
				}
				if !reflect.DeepEqual(gotStats[i], wantStats[i]) {
					t.Errorf("%s: stats after frame %d: got %+v, want %+v", path, want[i].Index, gotStats[i], wantStats[i])
					break
				}
			}
		}
		if g, w := gotStats[len(gotStats)-1], wantStats[len(wantStats)-1]; !reflect.DeepEqual(g, w) {
			t.Errorf("%s: final stats: got %+v, want %+v", path, g, w)
		}
		if g, w := pre.(LinkTyper).LinkTypes(), direct.(LinkTyper).LinkTypes(); !reflect.DeepEqual(g, w) {
			t.Errorf("%s: link types: got %v, want %v", path, g, w)
		}
		direct.Close()
		if err := pre.Close(); err != nil {
			t.Errorf("%s: close: %v", path, err)
		}
	}
	if checked < 20 {
		t.Fatalf("checked %d captures, want at least 20", checked)
	}
}

// viaRef reads a prefetcher through NextRef.
type viaRef struct{ *prefetcher }

func (v viaRef) Next(p *Packet) error {
	q, err := v.NextRef()
	if err == nil {
		*p = *q
	}
	return err
}

func fmtErr(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// TestPrefetch_stopEarly stops after a few packets (as -c does): Stats
// must count what was returned, not what was read ahead, and Close must
// stop the reading goroutine.
func TestPrefetch_stopEarly(t *testing.T) {
	path := writeManyFrames(t, 5000)
	direct := openOrFatal(t, path, 0, FileOptions{})
	defer direct.Close()
	pre := Prefetch(openOrFatal(t, path, 0, FileOptions{}))
	var p Packet
	for _, n := range []uint64{1, 7, 600, 1500} {
		for direct.Stats().TCPPackets < n {
			if err := direct.Next(&p); err != nil {
				t.Fatal(err)
			}
		}
		for pre.Stats().TCPPackets < n {
			if err := pre.Next(&p); err != nil {
				t.Fatal(err)
			}
		}
		if g, w := pre.Stats(), direct.Stats(); !reflect.DeepEqual(g, w) {
			t.Errorf("after %d packets: got stats %+v, want %+v", n, g, w)
		}
	}
	if err := pre.Close(); err != nil {
		t.Fatal(err)
	}
	if err := pre.Next(&p); err != io.EOF {
		t.Errorf("Next after Close: got %v, want io.EOF", err)
	}
	if err := pre.Close(); err != nil {
		t.Errorf("second Close: got %v, want nil", err)
	}
}

// writeManyFrames writes a pcap of n TCP frames (every 10th is UDP, which
// is counted but not returned) of varying size, larger than several batches.
func writeManyFrames(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "many.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range n {
		eth := &layers.Ethernet{SrcMAC: []byte{2, 0, 0, 0, 0, 1}, DstMAC: []byte{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, SrcIP: []byte{10, 0, 0, 1}, DstIP: []byte{10, 0, 0, 2}, Protocol: layers.IPProtocolTCP, Id: uint16(i)}
		payload := gopacket.Payload(bytes.Repeat([]byte{byte(i)}, i%1400))
		var l gopacket.SerializableLayer = &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: uint32(i * 1000), ACK: true, Window: 100}
		if i%10 == 9 {
			ip.Protocol = layers.IPProtocolUDP
			udp := &layers.UDP{SrcPort: 5353, DstPort: 5353}
			udp.SetNetworkLayerForChecksum(ip)
			l = udp
		} else {
			l.(*layers.TCP).SetNetworkLayerForChecksum(ip)
		}
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, l, payload); err != nil {
			t.Fatal(err)
		}
		b := buf.Bytes()
		ci := gopacket.CaptureInfo{Timestamp: base.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(b), Length: len(b)}
		if err := w.WritePacket(ci, b); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// TestPrefetch_manyBatches checks a capture of many batches, with frames
// that do not fit the rest of a batch buffer.
func TestPrefetch_manyBatches(t *testing.T) {
	path := writeManyFrames(t, 5000)
	want, wantErr, wantStats := drain(t, openOrFatal(t, path, 0, FileOptions{}), 0)
	pre := Prefetch(openOrFatal(t, path, 0, FileOptions{}))
	defer pre.Close()
	got, gotErr, gotStats := drain(t, pre, 0)
	if len(want) != 4500 || wantErr != io.EOF {
		t.Fatalf("direct read: got %d packets and %v, want 4500 and EOF", len(want), wantErr)
	}
	if !errors.Is(gotErr, io.EOF) || !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gotStats, wantStats) {
		t.Fatalf("prefetched read differs: %d packets, end %v", len(got), gotErr)
	}
}

// TestPrefetch_otherSources: a Source that is not a file comes back as it
// is; a merge of files gets its inputs prefetched, as it opens them.
func TestPrefetch_otherSources(t *testing.T) {
	var s Source = &mergeSource{}
	if Prefetch(s) != s {
		t.Errorf("Prefetch(merge of nothing) is not the merge itself")
	}
	path := writeManyFrames(t, 100)
	m, err := OpenFiles([]string{path, path}, FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pm := Prefetch(m)
	defer pm.Close()
	got, err, _ := drain(t, pm, 0)
	if err != io.EOF || len(got) != 180 {
		t.Errorf("merged: got %d packets and %v, want 180 and EOF", len(got), err)
	}
	// Inputs are opened as the merge reaches them (see OpenFiles).
	for i, in := range pm.(*mergeSource).srcs {
		if _, ok := in.(*prefetcher); !ok {
			t.Errorf("input %d: got %T, want *prefetcher", i, in)
		}
	}
}

// TestPrefetch_allocs: reading through Prefetch allocates nothing per
// packet once running (both goroutines count: AllocsPerRun reads the
// process's allocation counter).
func TestPrefetch_allocs(t *testing.T) {
	data, n := memCapture(t, "", 16)
	s, err := newFileSource(bytes.NewReader(data), nil, "mem", 0, FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f := Prefetch(s)
	defer f.Close()
	var p Packet
	for range 2 * prefetchPackets { // warm up: the goroutine, buffers
		if err := f.Next(&p); err != nil {
			t.Fatal(err)
		}
	}
	const per = 500
	if n < 2*prefetchPackets+per*11 {
		t.Fatalf("capture holds %d packets, too few", n)
	}
	allocs := testing.AllocsPerRun(10, func() {
		for range per {
			if err := f.Next(&p); err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("got %.1f allocations per %d packets, want 0", allocs, per)
	}
}

// BenchmarkPrefetch reads an in-memory pcap to its end through Prefetch
// (compare BenchmarkFileSource).
func BenchmarkPrefetch(b *testing.B) {
	data, n := memCapture(b, "", 64)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		s, err := newFileSource(bytes.NewReader(data), nil, "mem", 0, FileOptions{})
		if err != nil {
			b.Fatal(err)
		}
		f := Prefetch(s)
		var p Packet
		for f.Next(&p) == nil {
		}
		f.Close()
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "pkts/s")
}

// mixCapture generates, in memory, a mix of about packets frames like the
// bench capture's (make bench: internal/pcapgen, Ethernet, snaplen 128,
// mostly TCP), and returns it with its frame count.
func mixCapture(b *testing.B, packets int) ([]byte, int) {
	var buf bytes.Buffer
	g := pcapgen.New(&buf, pcapgen.Options{Snaplen: 128, Seed: 1, Pad: true})
	if _, err := pcapgen.Mix(g, pcapgen.MixOptions{Flows: max(1, packets*280000/10200000), Packets: packets}); err != nil {
		b.Fatalf("generate mix: %v", err)
	}
	if err := g.Close(); err != nil {
		b.Fatalf("generate mix: %v", err)
	}
	return buf.Bytes(), g.Stats().Packets
}

// BenchmarkPrefetch_mix reads a generated mix like the bench capture's from
// memory: "read" is the reading goroutine's work alone (fill, batch after
// batch, without the hand-off to another goroutine), what it costs per
// frame on its core; "prefetch" the whole Prefetch, the caller taking each
// packet by NextRef as the pipeline does.
func BenchmarkPrefetch_mix(b *testing.B) {
	data, n := mixCapture(b, 200000)
	open := func(b *testing.B) *fileSource {
		s, err := newFileSource(bytes.NewReader(data), nil, "mem", 0, FileOptions{})
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	b.Run("read", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			f := newPrefetcher(open(b))
			bt := <-f.free
			for bt.err == nil {
				f.fill(bt)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/frame")
	})
	b.Run("prefetch", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			f := Prefetch(open(b)).(Referencer)
			for {
				if _, err := f.NextRef(); err != nil {
					break
				}
			}
			f.(Source).Close()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/frame")
	})
}

// TestFlowHash: symmetric, never 0, and different for different
// connections (port, address, IPv4 vs IPv6 forms) in a sample.
func TestFlowHash(t *testing.T) {
	a := netip.MustParseAddrPort("10.0.0.1:40000")
	b := netip.MustParseAddrPort("10.0.0.2:443")
	if FlowHash(a, b) != FlowHash(b, a) {
		t.Errorf("FlowHash(a, b) %#x != FlowHash(b, a) %#x", FlowHash(a, b), FlowHash(b, a))
	}
	seen := map[uint64]string{}
	for _, pair := range [][2]string{
		{"10.0.0.1:40000", "10.0.0.2:443"},
		{"10.0.0.1:40001", "10.0.0.2:443"},
		{"10.0.0.1:443", "10.0.0.2:40000"},
		{"10.0.0.3:40000", "10.0.0.2:443"},
		{"[::a00:1]:40000", "10.0.0.2:443"},
		{"[2001:db8::1]:40000", "[2001:db8::2]:443"},
		{"10.0.0.1:80", "10.0.0.1:8080"},
	} {
		x, y := netip.MustParseAddrPort(pair[0]), netip.MustParseAddrPort(pair[1])
		h := FlowHash(x, y)
		if h == 0 {
			t.Errorf("%v: FlowHash is 0", pair)
		}
		if o, ok := seen[h]; ok {
			t.Errorf("%v and %s: same FlowHash %#x", pair, o, h)
		}
		seen[h] = pair[0] + " " + pair[1]
	}
}

// BenchmarkFlowHash hashes 256 connections' endpoints round: from the
// netip values (FlowHash, IPv4 and IPv6) and, as Decode's fast path does,
// from the header bytes (IPv4).
func BenchmarkFlowHash(b *testing.B) {
	var v4, v6 [256][2]netip.AddrPort
	for i := range v4 {
		v4[i][0] = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i), 1}), uint16(40000+i))
		v4[i][1] = netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 168, 1, byte(i)}), 443)
		v6[i][0] = netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 1, 0xd, 0xb8, 15: byte(i)}), uint16(40000+i))
		v6[i][1] = netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 1, 0xd, 0xb8, 14: 1, 15: byte(i)}), 443)
	}
	var sum uint64
	for _, bc := range []struct {
		name  string
		pairs *[256][2]netip.AddrPort
	}{{"ipv4", &v4}, {"ipv6", &v6}} {
		b.Run(bc.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				sum += FlowHash(bc.pairs[i&255][0], bc.pairs[i&255][1])
				i++
			}
		})
	}
	b.Run("ipv4_header_bytes", func(b *testing.B) {
		var hdr [256][12]byte // addresses and ports as in the headers
		for i := range hdr {
			copy(hdr[i][:], []byte{10, 0, byte(i), 1, 192, 168, 1, byte(i), byte((40000 + i) >> 8), byte(40000 + i), 1, 187})
		}
		i := 0
		for b.Loop() {
			h := &hdr[i&255]
			x := uint64(be32(h[0:]))<<16 | uint64(be16(h[8:]))
			y := uint64(be32(h[4:]))<<16 | uint64(be16(h[10:]))
			sum += flowHash4(x, y)
			i++
		}
	})
	if sum == 42 {
		b.Log(sum) // keeps the sums
	}
}

// TestPrefetchHeavy: a classic pcap or pcapng file is read in place, a
// gzip one through a reading goroutine, alone or merged (inputs opened
// later too), and the packets are those of the file either way.
func TestPrefetchHeavy(t *testing.T) {
	plain := writeManyFrames(t, 100)
	gz := gzipCopy(t, plain, "many.pcap.gz")
	var ng string
	filepath.WalkDir(corpusDir, func(path string, d os.DirEntry, err error) error {
		if err == nil && ng == "" && strings.HasSuffix(path, ".pcapng") {
			ng = path
		}
		return err
	})
	if ng == "" {
		t.Fatal("no pcapng file in the corpus")
	}
	for _, tc := range []struct {
		path   string
		thread bool // read by a goroutine of its own
	}{{plain, false}, {gz, true}, {ng, false}} {
		src, err := OpenFile(tc.path, 0, FileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got := PrefetchHeavy(src)
		if _, ok := got.(*prefetcher); ok != tc.thread || !ok && got != src {
			t.Errorf("%s: PrefetchHeavy gave %T, want a prefetcher: %v", filepath.Base(tc.path), got, tc.thread)
		}
		// A caller with a packet to fill (flows.Sharded.Slot) calls Next
		// unless the source hands out packets it holds, through Follow too.
		stop := make(chan struct{})
		if h := HoldsPackets(got); h != tc.thread {
			t.Errorf("%s: HoldsPackets: got %v, want %v", filepath.Base(tc.path), h, tc.thread)
		}
		if h := HoldsPackets(Follow(got, stop, nil)); h != tc.thread {
			t.Errorf("%s: HoldsPackets through Follow: got %v, want %v", filepath.Base(tc.path), h, tc.thread)
		}
		close(stop)
		pk, end, _ := drain(t, got, 0)
		direct, err := OpenFile(tc.path, 0, FileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want, wantEnd, _ := drain(t, direct, 0)
		if !reflect.DeepEqual(pk, want) || fmtErr(end) != fmtErr(wantEnd) {
			t.Errorf("%s: %d packets ending %v, want %d ending %v", filepath.Base(tc.path), len(pk), end, len(want), wantEnd)
		}
		got.Close()
	}
	m, err := OpenFiles([]string{plain, gz}, FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pm := PrefetchHeavy(m)
	defer pm.Close()
	if pk, end, _ := drain(t, pm, 0); end != io.EOF || len(pk) != 180 {
		t.Errorf("merged: got %d packets and %v, want 180 and EOF", len(pk), end)
	}
	srcs := pm.(*mergeSource).srcs
	if _, ok := srcs[0].(*fileSource); !ok {
		t.Errorf("merged pcap input: got %T, want it read in place", srcs[0])
	}
	if _, ok := srcs[1].(*prefetcher); !ok {
		t.Errorf("merged gzip input: got %T, want *prefetcher", srcs[1])
	}
}
