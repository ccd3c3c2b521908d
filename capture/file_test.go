package capture

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

func rowInt(t *testing.T, row map[string]string, col string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(row[col], 10, 64)
	if err != nil {
		t.Fatalf("%s: column %s: %v", row["file"], col, err)
	}
	return n
}

// readAll reads a Source to its end and returns copies of its packets and
// the error that ended it (nil for io.EOF).
func readAll(t testing.TB, s Source) ([]Packet, error) {
	t.Helper()
	var out []Packet
	for {
		var p Packet
		err := s.Next(&p)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		p.Payload = bytes.Clone(p.Payload)
		p.Frame = bytes.Clone(p.Frame)
		out = append(out, p)
	}
}

func openOrFatal(t testing.TB, path string, input int, opts FileOptions) Source {
	t.Helper()
	s, err := OpenFile(path, input, opts)
	if err != nil {
		t.Fatalf("OpenFile(%s): %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestOpenFile_corpus reads every corpus capture to its end and checks the
// frame count against capinfos' (MANIFEST.tsv), the snaplen cuts against
// truncated_packets, and the per-frame invariants.
func TestOpenFile_corpus(t *testing.T) {
	rows := corpusManifest(t)
	if len(rows) < 90 {
		t.Fatalf("manifest lists %d captures, want the whole corpus (98 minus the excluded)", len(rows))
	}
	for _, row := range rows {
		t.Run(row["file"], func(t *testing.T) {
			path := filepath.Join(corpusDir, row["file"])
			s := openOrFatal(t, path, 3, FileOptions{})
			// No corpus file is cut mid-record today; a "truncated" column,
			// if the manifest grows one, says which are.
			cut := false
			if v, ok := row["truncated"]; ok {
				cut = v == "1" || v == "true" || v == "yes"
			}
			pkts, err := readAll(t, s)
			if err != nil && !(cut && errors.Is(err, ErrTruncated)) {
				t.Fatalf("read: %v", err)
			}
			st := s.Stats()
			if want := rowInt(t, row, "packets"); st.Packets != want {
				t.Errorf("Stats.Packets = %d, want %d (manifest)", st.Packets, want)
			}
			if st.Truncated != cut {
				t.Errorf("Stats.Truncated = %v, want %v", st.Truncated, cut)
			}
			if got := st.TCPPackets + st.NonTCP + st.Undecodable; got != st.Packets {
				t.Errorf("TCP %d + non-TCP %d + undecodable %d = %d, want Packets %d", st.TCPPackets, st.NonTCP, st.Undecodable, got, st.Packets)
			}
			if uint64(len(pkts)) != st.TCPPackets {
				t.Errorf("Next returned %d packets, Stats.TCPPackets = %d", len(pkts), st.TCPPackets)
			}
			// SnapCut counts TCP frames whose payload was cut; every such
			// frame is among the manifest's snaplen-cut frames.
			if want := rowInt(t, row, "truncated_packets"); st.SnapCut > want {
				t.Errorf("Stats.SnapCut = %d, more than the %d frames cut by the snaplen (manifest)", st.SnapCut, want)
			}
			if row["file"] == "tcpdump/tcp_rst_data-trunc.pcap" && st.SnapCut != 1 {
				t.Errorf("Stats.SnapCut = %d, want 1 (its one frame is an RST whose data the snaplen cut)", st.SnapCut)
			}
			var prev uint64
			for _, p := range pkts {
				if p.Index <= prev || p.Index > st.Packets {
					t.Fatalf("frame %d after frame %d (of %d): Index not increasing within range", p.Index, prev, st.Packets)
				}
				prev = p.Index
				if p.Input != 3 {
					t.Fatalf("frame %d: Input = %d, want 3", p.Index, p.Input)
				}
				if p.Time.Location() != time.UTC {
					t.Fatalf("frame %d: Time %v is not UTC", p.Index, p.Time)
				}
				if p.CapLen != len(p.Frame) || p.WireLen < p.CapLen && p.WireLen != 0 {
					t.Fatalf("frame %d: CapLen %d, len(Frame) %d, WireLen %d", p.Index, p.CapLen, len(p.Frame), p.WireLen)
				}
			}
			if len(pkts) > 0 && pkts[0].Index == 1 && !st.FirstTime.Equal(pkts[0].Time) {
				t.Errorf("Stats.FirstTime = %v, want frame 1's time %v", st.FirstTime, pkts[0].Time)
			}
			if n := len(pkts); n > 0 && pkts[n-1].Index == st.Packets && !st.LastTime.Equal(pkts[n-1].Time) {
				t.Errorf("Stats.LastTime = %v, want frame %d's time %v", st.LastTime, st.Packets, pkts[n-1].Time)
			}
			lt, ok := s.(LinkTyper)
			if !ok || len(lt.LinkTypes()) == 0 {
				t.Errorf("LinkTypes() empty after reading %d frames", st.Packets)
			}
		})
	}
}

// TestOpenFile_rstFrameNumbers checks Index against tshark's frame.number:
// the first RST of every flow in RST_FLOWS.tsv is returned with that index.
func TestOpenFile_rstFrameNumbers(t *testing.T) {
	f, err := os.Open(filepath.Join(corpusDir, "RST_FLOWS.tsv"))
	if err != nil {
		t.Fatalf("open RST_FLOWS.tsv: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var header []string
	want := map[string][]uint64{} // file -> first RST frames
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if header == nil {
			header = cols
			continue
		}
		row := map[string]string{}
		for i, h := range header {
			if i < len(cols) {
				row[h] = cols[i]
			}
		}
		n, err := strconv.ParseUint(row["first_rst_frame"], 10, 64)
		if err != nil {
			t.Fatalf("%s: first_rst_frame %q: %v", row["file"], row["first_rst_frame"], err)
		}
		want[row["file"]] = append(want[row["file"]], n)
	}
	if len(want) < 50 {
		t.Fatalf("RST_FLOWS.tsv names %d files, want the corpus", len(want))
	}
	missing, flows := 0, 0
	for file, frames := range want {
		flows += len(frames)
		s := openOrFatal(t, filepath.Join(corpusDir, file), 0, FileOptions{})
		pkts, err := readAll(t, s)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		rst := map[uint64]bool{}
		for _, p := range pkts {
			if p.Flags.Has(RST) {
				rst[p.Index] = true
			}
		}
		for _, n := range frames {
			if !rst[n] {
				t.Errorf("%s: frame %d: got no RST with this Index, want tshark's first RST of a flow", file, n)
				missing++
			}
		}
	}
	t.Logf("%d files, %d flows' first RSTs checked, %d missing", len(want), flows, missing)
}

// gzipCopy writes a gzip copy of the file at path, named name, in a
// temporary directory, and gives its path.
func gzipCopy(t *testing.T, path, name string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	gz := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(gz, gzipData(raw), 0o644); err != nil {
		t.Fatal(err)
	}
	return gz
}

// TestOpenFile_gzip reads gzip copies of corpus files (pcap and pcapng)
// and gets the same packets as from the plain file.
func TestOpenFile_gzip(t *testing.T) {
	for _, name := range []string{"ndpi/webex.pcap", "ndpi/anydesk.pcapng", "zeek/Traces/http/get-to-ssh-server.pcap"} {
		t.Run(name, func(t *testing.T) {
			plainPath := filepath.Join(corpusDir, name)
			gzPath := gzipCopy(t, plainPath, "capture.cap.gz")
			want, err := readAll(t, openOrFatal(t, plainPath, 0, FileOptions{}))
			if err != nil {
				t.Fatal(err)
			}
			gs := openOrFatal(t, gzPath, 0, FileOptions{})
			got, err := readAll(t, gs)
			if err != nil {
				t.Fatal(err)
			}
			comparePackets(t, got, want)
			if len(want) == 0 {
				t.Fatalf("%s has no TCP packets: the comparison proves nothing", name)
			}
		})
	}
}

// comparePackets fails on the first packet that differs.
func comparePackets(t *testing.T, got, want []Packet) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d packets, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Index != w.Index || !g.Time.Equal(w.Time) || g.Src != w.Src || g.Dst != w.Dst ||
			g.Seq != w.Seq || g.Flags != w.Flags || g.WireLen != w.WireLen || g.LinkType != w.LinkType ||
			!bytes.Equal(g.Frame, w.Frame) {
			t.Fatalf("packet %d: got frame %d %v %s>%s %s seq %d wire %d lt %d, want frame %d %v %s>%s %s seq %d wire %d lt %d",
				i, g.Index, g.Time, g.Src, g.Dst, g.Flags, g.Seq, g.WireLen, g.LinkType,
				w.Index, w.Time, w.Src, w.Dst, w.Flags, w.Seq, w.WireLen, w.LinkType)
		}
	}
}

// TestOpenFile_stdin reads a capture through a pipe as "-".
func TestOpenFile_stdin(t *testing.T) {
	path := filepath.Join(corpusDir, "ndpi/avast.pcap")
	want, err := readAll(t, openOrFatal(t, path, 0, FileOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		pw.Write(raw)
		pw.Close()
	}()
	saved := os.Stdin
	os.Stdin = pr
	defer func() { os.Stdin = saved; pr.Close() }()
	s, err := OpenFile("-", 0, FileOptions{})
	if err != nil {
		t.Fatalf("OpenFile(-): %v", err)
	}
	got, err := readAll(t, s)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	comparePackets(t, got, want)
	if st := s.Stats(); st.Packets != 142 {
		t.Errorf("Stats.Packets = %d, want 142 (manifest)", st.Packets)
	}
}

// cutFile writes the first n bytes of a corpus file to a temp file.
func cutFile(t *testing.T, name string, n int) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(corpusDir, name))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), filepath.Base(name))
	if err := os.WriteFile(path, raw[:n], 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// pcapRecordEnds returns the byte offset where each record of a classic
// little-endian pcap ends.
func pcapRecordEnds(t testing.TB, raw []byte) []int {
	t.Helper()
	var ends []int
	for off := 24; off+16 <= len(raw); {
		caplen := int(raw[off+8]) | int(raw[off+9])<<8 | int(raw[off+10])<<16 | int(raw[off+11])<<24
		off += 16 + caplen
		ends = append(ends, off)
	}
	return ends
}

// TestOpenFile_cutMidRecord cuts a capture inside record 6 (in its data and
// in its header) and inside a pcapng block: Next returns frames 1-5, then an
// error wrapping ErrTruncated that names the file and frame 6.
func TestOpenFile_cutMidRecord(t *testing.T) {
	const name = "ndpi/avast.pcap" // every frame is TCP
	raw, err := os.ReadFile(filepath.Join(corpusDir, name))
	if err != nil {
		t.Fatal(err)
	}
	ends := pcapRecordEnds(t, raw)
	for _, tc := range []struct {
		name string
		file string
		cut  int
	}{
		{"pcap_in_data", name, ends[4] + 16 + 10},
		{"pcap_in_header", name, ends[4] + 7},
		{"pcapng_in_block", "ndpi/roblox.pcapng", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cut := tc.cut
			if cut < 0 {
				cut = pcapngBlockCut(t, tc.file, 6)
			}
			path := cutFile(t, tc.file, cut)
			s := openOrFatal(t, path, 0, FileOptions{})
			var n uint64
			var p Packet
			var err error
			for {
				if err = s.Next(&p); err != nil {
					break
				}
				n = p.Index
			}
			st := s.Stats()
			if st.Packets != 5 || n != 5 && tc.file == name {
				t.Errorf("read %d frames (last returned %d) before the cut, want 5", st.Packets, n)
			}
			if !errors.Is(err, ErrTruncated) {
				t.Fatalf("got error %v, want ErrTruncated", err)
			}
			want := "capture: " + path + ": frame 6: input truncated: record cut short"
			if err.Error() != want {
				t.Errorf("got error %q, want %q", err, want)
			}
			if !st.Truncated {
				t.Error("Stats.Truncated = false, want true")
			}
			if err2 := s.Next(&p); err2 != err {
				t.Errorf("Next after the end: got %v, want the same error again", err2)
			}
		})
	}
}

// pcapngBlockCut returns an offset inside the block of the n-th packet of a
// little-endian pcapng file.
func pcapngBlockCut(t *testing.T, name string, n int) int {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(corpusDir, name))
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for off := 0; off+8 <= len(raw); {
		typ := uint32(raw[off]) | uint32(raw[off+1])<<8 | uint32(raw[off+2])<<16 | uint32(raw[off+3])<<24
		blen := int(uint32(raw[off+4]) | uint32(raw[off+5])<<8 | uint32(raw[off+6])<<16 | uint32(raw[off+7])<<24)
		if typ == 6 || typ == 3 || typ == 2 {
			seen++
			if seen == n {
				return off + blen/2
			}
		}
		off += blen
	}
	t.Fatalf("%s has fewer than %d packets", name, n)
	return 0
}

// TestOpenFile_corruptLength gives record 3 an absurd capture length: the
// input ends there like a cut, without allocating the claimed size.
func TestOpenFile_corruptLength(t *testing.T) {
	const name = "ndpi/avast.pcap"
	raw, err := os.ReadFile(filepath.Join(corpusDir, name))
	if err != nil {
		t.Fatal(err)
	}
	ends := pcapRecordEnds(t, raw)
	for _, caplen := range []uint32{maxRecordLen + 1, 0xfffffff0} {
		bad := bytes.Clone(raw)
		h := ends[1] // record 3's header
		bad[h+8], bad[h+9], bad[h+10], bad[h+11] = byte(caplen), byte(caplen>>8), byte(caplen>>16), byte(caplen>>24)
		bad[h+12], bad[h+13], bad[h+14], bad[h+15] = 0xff, 0xff, 0xff, 0xff
		path := filepath.Join(t.TempDir(), "bad.pcap")
		if err := os.WriteFile(path, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		s := openOrFatal(t, path, 0, FileOptions{})
		got, err := readAll(t, s)
		if len(got) != 2 || !errors.Is(err, ErrTruncated) {
			t.Fatalf("caplen %d: got %d packets and %v, want 2 and ErrTruncated", caplen, len(got), err)
		}
		if !strings.Contains(err.Error(), "frame 3: input truncated: corrupt record") {
			t.Errorf("caplen %d: got %q, want frame 3 named as corrupt", caplen, err)
		}
		if !s.Stats().Truncated {
			t.Errorf("caplen %d: Stats.Truncated = false, want true", caplen)
		}
	}
}

// TestOpenFile_errors checks each open failure's one-line message and the
// error it wraps.
func TestOpenFile_errors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A pcap header with link type 147 (USER0).
	user0 := []byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 147, 0, 0, 0}
	var gzText bytes.Buffer
	zw := gzip.NewWriter(&gzText)
	zw.Write([]byte("hello, not a capture\n"))
	zw.Close()
	zstdText, err := zstdBytes([]byte("hello, not a capture\n"))
	if err != nil {
		t.Fatal(err)
	}
	// A zstd frame header that asks for a 1 GiB window (descriptor 0:
	// no size, a window byte; exponent 20 gives 2^30), then nothing.
	zstdWide := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 20 << 3}
	missing := filepath.Join(dir, "missing.pcap")
	for _, tc := range []struct {
		name, path, want string
		is               error
	}{
		{"missing", missing, "capture: " + missing + ": no such file or directory", fs.ErrNotExist},
		{"directory", dir, "capture: " + dir + ": is a directory", nil},
		{"empty", write("empty.pcap", nil), "capture: " + dir + "/empty.pcap: empty file", ErrEmpty},
		{"text", write("notes.pcap", []byte("# notes\n")), "capture: " + dir + "/notes.pcap: not a capture file (magic 23 20 6e 6f is not pcap, pcapng, gzip or zstd)", ErrNotCapture},
		{"short", write("short.pcap", []byte{0xd4, 0xc3}), "capture: " + dir + "/short.pcap: not a capture file (only 2 bytes)", ErrNotCapture},
		{"gzip_text", write("notes.gz", gzText.Bytes()), "capture: " + dir + "/notes.gz: not a capture file inside gzip (magic 68 65 6c 6c is not pcap, pcapng, gzip or zstd)", ErrNotCapture},
		{"zstd_text", write("notes.zst", zstdText), "capture: " + dir + "/notes.zst: not a capture file inside zstd (magic 68 65 6c 6c is not pcap, pcapng, gzip or zstd)", ErrNotCapture},
		{"zstd_window", write("wide.zst", zstdWide), "capture: " + dir + "/wide.zst: zstd: window size exceeded (the limit is 128 MiB, the zstd tool's own)", zstd.ErrWindowSizeExceeded},
		{"header_cut", write("hdr.pcap", user0[:20]), "capture: " + dir + "/hdr.pcap: input truncated: pcap file header cut short", ErrTruncated},
		{"user0", write("user0.pcap", user0), "capture: " + dir + "/user0.pcap: unsupported link type 147 (USER0)", ErrUnsupportedLinkType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := OpenFile(tc.path, 0, FileOptions{})
			if err == nil {
				s.Close()
				t.Fatalf("OpenFile succeeded, want error %q", tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("got %q, want %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.is)
			}
		})
	}
}

// TestOpenFile_permissionDenied opens a file the user may not read. As
// root, which may read anything, it runs itself as nobody.
func TestOpenFile_permissionDenied(t *testing.T) {
	if path := os.Getenv("RSTSCOPE_TEST_DENIED"); path != "" {
		_, err := OpenFile(path, 0, FileOptions{})
		want := "capture: " + path + ": permission denied"
		if err == nil || err.Error() != want || !errors.Is(err, fs.ErrPermission) {
			t.Fatalf("got %v, want %q matching fs.ErrPermission", err, want)
		}
		return
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "secret.pcap")
	if err := os.WriteFile(path, []byte{0xd4, 0xc3, 0xb2, 0xa1}, 0); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		t.Setenv("RSTSCOPE_TEST_DENIED", path)
		TestOpenFile_permissionDenied(t)
		return
	}
	runAsNobody(t, "TestOpenFile_permissionDenied", "RSTSCOPE_TEST_DENIED="+path, dir)
}

// runAsNobody runs one test of this binary as uid/gid 65534, with env set,
// after making dirs traversable. It fails if the child fails.
func runAsNobody(t *testing.T, test, env string, dirs ...string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	copyExe := filepath.Join(bin, "capture.test")
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(copyExe, data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range append(dirs, bin) {
		for ; d != "/" && d != "."; d = filepath.Dir(d) {
			if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o001 == 0 {
				if err := os.Chmod(d, fi.Mode().Perm()|0o711); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	cmd := exec.Command(copyExe, "-test.run=^"+test+"$", "-test.v")
	cmd.Env = append(os.Environ(), env)
	cmd.SysProcAttr = nobodyAttr()
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: "+test)) {
		t.Fatalf("%s as nobody: %v\n%s", test, err, out)
	}
}

// frameIndexes returns the Index of every record of a file, TCP or not,
// read through the Source's own reader.
func frameIndexes(t *testing.T, path string) []uint64 {
	t.Helper()
	src, err := OpenFile(path, 0, FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	s := src.(*fileSource)
	var out []uint64
	var index uint64
	if s.hasPending {
		index += s.pendingFrames
		out = append(out, index)
	}
	for {
		_, _, _, frames, err := s.r.next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		index += frames
		out = append(out, index)
	}
}

// TestOpenFile_pcapngCustomBlocks: tshark gives pcapng custom blocks frame
// numbers, so packets after one are numbered past it. test202 is big-endian,
// three sections, custom blocks at 1, 7 and 10 (tshark 4.0).
func TestOpenFile_pcapngCustomBlocks(t *testing.T) {
	path := filepath.Join(corpusDir, "gopacket/pcapgo/tests/be/test202.pcapng")
	got := frameIndexes(t, path)
	want := []uint64{2, 3, 4, 5, 6, 8, 9, 11}
	if !slicesEqual(got, want) {
		t.Errorf("frame numbers %v, want %v (tshark)", got, want)
	}
	if out, err := exec.Command("tshark", "-r", path, "-T", "fields", "-e", "frame.number", "-Y", "frame.len > 100").Output(); err == nil {
		t.Logf("tshark frames with len > 100: %s", strings.Join(strings.Fields(string(out)), " "))
	}

	// A little-endian pcapng with TCP packets and custom blocks spliced in:
	// packets P1 P2 CB P3 P4 CB CB P5 are frames 1 2 4 5 8.
	raw, err := os.ReadFile(filepath.Join(corpusDir, "ndpi/tls_alert.pcap")) // pcapng despite its name
	if err != nil {
		t.Fatal(err)
	}
	var blocks [][]byte
	packets := 0
	for off := 0; off+8 <= len(raw) && packets < 5; {
		typ := binary.LittleEndian.Uint32(raw[off:])
		n := int(binary.LittleEndian.Uint32(raw[off+4:]))
		blocks = append(blocks, raw[off:off+n])
		if typ == 6 {
			packets++
		}
		off += n
	}
	custom := []byte{0xad, 0x0b, 0, 0, 20, 0, 0, 0, 0xd9, 0x7e, 0, 0, 'a', 'b', 'c', 'd', 20, 0, 0, 0}
	var out []byte
	packets = 0
	for _, b := range blocks {
		out = append(out, b...)
		if binary.LittleEndian.Uint32(b) == 6 {
			packets++
			switch packets {
			case 2:
				out = append(out, custom...)
			case 4:
				out = append(out, custom...)
				out = append(out, custom...)
			}
		}
	}
	spliced := filepath.Join(t.TempDir(), "custom.pcapng")
	if err := os.WriteFile(spliced, out, 0o644); err != nil {
		t.Fatal(err)
	}
	got = frameIndexes(t, spliced)
	if want := []uint64{1, 2, 4, 5, 8}; !slicesEqual(got, want) {
		t.Errorf("spliced file: frame numbers %v, want %v", got, want)
	}
	if o, err := exec.Command("tshark", "-r", spliced, "-T", "fields", "-e", "frame.number", "-Y", "tcp").Output(); err == nil {
		if f := strings.Join(strings.Fields(string(o)), " "); f != "1 2 4 5 8" {
			t.Errorf("tshark numbers the spliced file's TCP frames %q, want 1 2 4 5 8", f)
		}
	}
	pkts, err := readAll(t, openOrFatal(t, spliced, 0, FileOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	var idx []uint64
	for _, p := range pkts {
		idx = append(idx, p.Index)
	}
	if want := []uint64{1, 2, 4, 5, 8}; !slicesEqual(idx, want) {
		t.Errorf("TCP packets returned as frames %v, want %v", idx, want)
	}
}

func slicesEqual(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestOpenFile_corruptLengthPcapng: a pcapng record longer than 256 KiB
// ends the input at that frame.
func TestOpenFile_corruptLengthPcapng(t *testing.T) {
	pkts, err := readAll(t, openOrFatal(t, filepath.Join(corpusDir, "ndpi/avast.pcap"), 0, FileOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := NewExportWriter(&buf, []int{1, 113})
	if err != nil {
		t.Fatal(err)
	}
	huge := pkts[2]
	huge.Frame = make([]byte, maxRecordLen+4)
	huge.WireLen = len(huge.Frame)
	for _, p := range []*Packet{&pkts[0], &pkts[1], &huge, &pkts[3]} {
		if err := w.WritePacket(p); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	path := filepath.Join(t.TempDir(), "huge.pcapng")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	s := openOrFatal(t, path, 0, FileOptions{})
	got, err := readAll(t, s)
	want := "capture: " + path + ": frame 3: input truncated: corrupt record: pcapng packet block of 262180 bytes claims capture length 262148 (at most 262144)"
	if len(got) != 2 || err == nil || err.Error() != want || !errors.Is(err, ErrTruncated) {
		t.Fatalf("got %d packets and %v, want 2 and %q", len(got), err, want)
	}
	if st := s.Stats(); !st.Truncated || st.Packets != 2 {
		t.Errorf("Stats: Truncated %v Packets %d, want true and 2", st.Truncated, st.Packets)
	}
}

// TestOpenFile_gzipCut: a gzip stream cut short ends like a cut capture.
func TestOpenFile_gzipCut(t *testing.T) {
	path := gzipCopy(t, filepath.Join(corpusDir, "ndpi/webex.pcap"), "cut.pcap.gz")
	gz, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, gz[:len(gz)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	s := openOrFatal(t, path, 0, FileOptions{})
	got, err := readAll(t, s)
	st := s.Stats()
	if !errors.Is(err, ErrTruncated) || !st.Truncated || len(got) == 0 || st.Packets >= 1110 {
		t.Fatalf("got %d packets of %d frames and %v, want some, not all 1110, then ErrTruncated", len(got), st.Packets, err)
	}
	if want := fmt.Sprintf("capture: %s: frame %d: input truncated", path, st.Packets+1); !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got %q, want prefix %q", err, want)
	}
}
