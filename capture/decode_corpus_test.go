package capture

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

const corpusDir = "../pcaps/corpus"

// corpusFrame is one frame of a corpus capture, copied out of the reader.
type corpusFrame struct {
	linkType int
	data     []byte
}

// corpusFrames reads every frame of a pcap or pcapng file with pcapgo.
// A capture cut mid-record ends the list without an error.
func corpusFrames(t *testing.T, path string) []corpusFrame {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	var frames []corpusFrame
	if len(raw) >= 4 && bytes.Equal(raw[:4], []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		r, err := pcapgo.NewNgReader(bytes.NewReader(raw), pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for {
			data, ci, err := r.ReadPacketData()
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Logf("%s: stops after %d frames: %v", path, len(frames), err)
				}
				return frames
			}
			lt := int(r.LinkType())
			if len(ci.AncillaryData) > 0 {
				if l, ok := ci.AncillaryData[0].(layers.LinkType); ok {
					lt = int(l)
				}
			}
			frames = append(frames, corpusFrame{lt, data})
		}
	}
	r, err := pcapgo.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for {
		data, _, err := r.ReadPacketData()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Logf("%s: stops after %d frames: %v", path, len(frames), err)
			}
			return frames
		}
		frames = append(frames, corpusFrame{int(r.LinkType()), data})
	}
}

// corpusManifest reads MANIFEST.tsv into one map per row, keyed by column name.
func corpusManifest(t *testing.T) []map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(corpusDir, "MANIFEST.tsv"))
	if err != nil {
		t.Fatalf("open manifest: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var header []string
	var rows []map[string]string
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if header == nil {
			header = cols
			continue
		}
		row := make(map[string]string, len(header))
		for i, h := range header {
			if i < len(cols) {
				row[h] = cols[i]
			}
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read manifest: %v", err)
	}
	if len(rows) == 0 {
		t.Fatal("manifest has no rows")
	}
	return rows
}

func corpusInt(t *testing.T, row map[string]string, col string) int {
	t.Helper()
	n, err := strconv.Atoi(row[col])
	if err != nil {
		t.Fatalf("%s: column %s: %v", row["file"], col, err)
	}
	return n
}

// icmpQuotingTCP reports whether frame is an ICMP or ICMPv6 error that
// quotes a TCP header: tshark counts those as TCP frames, Decode does not.
func icmpQuotingTCP(linkType int, frame []byte) bool {
	pkt := gopacket.NewPacket(frame, layers.LinkType(linkType), gopacket.Default)
	if l, ok := pkt.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok {
		q := l.LayerPayload()
		return len(q) >= 20 && q[0]>>4 == 4 && q[9] == 6
	}
	if l, ok := pkt.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6); ok && l.TypeCode.Type() < 128 {
		q := l.LayerPayload()
		if len(q) >= 4 { // the 4 bytes after the ICMPv6 header (unused / MTU / pointer)
			q = q[4:]
		}
		return len(q) >= 40 && q[0]>>4 == 6 && q[6] == 6
	}
	return false
}

// tsharkMalformedTCP lists the frames of path that tshark marks as TCP with
// an invalid header (malformed, short segment or bogus header length).
func tsharkMalformedTCP(t *testing.T, tshark, path string) map[int]bool {
	t.Helper()
	out, err := exec.Command(tshark, "-n", "-r", path, "-Y",
		`tcp && (_ws.malformed || tcp.hdr_len < 20 || _ws.expert.message contains "Short segment")`,
		"-T", "fields", "-e", "frame.number").Output()
	if err != nil {
		t.Fatalf("tshark %s: %v", path, err)
	}
	frames := make(map[int]bool)
	for _, f := range strings.Fields(string(out)) {
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("tshark %s: frame number %q: %v", path, f, err)
		}
		frames[n] = true
	}
	return frames
}

// TestDecode_corpus decodes every frame of every corpus capture and checks
// the counts against MANIFEST.tsv (computed by tshark): the RSTs per file are
// exactly tcp_rst_count; every frame tshark calls TCP decodes, except ICMP
// errors quoting TCP (not a segment) and frames whose TCP header tshark
// itself finds malformed.
func TestDecode_corpus(t *testing.T) {
	tshark, _ := exec.LookPath("tshark")
	d := NewDecoder()
	var p Packet
	var files, total int
	for _, row := range corpusManifest(t) {
		name := row["file"]
		path := filepath.Join(corpusDir, name)
		frames := corpusFrames(t, path)
		files++
		total += len(frames)
		var tcp, rst, icmp int
		var bad []int // 1-based frame numbers
		for i, f := range frames {
			err := d.Decode(f.linkType, f.data, &p)
			switch {
			case err == nil:
				tcp++
				if p.Flags.Has(RST) {
					rst++
				}
				if len(p.Payload) > p.Len || !insideFrame(p.Payload, f.data) {
					t.Errorf("%s: frame %d: payload %d bytes, Len %d, or not inside the frame", name, i+1, len(p.Payload), p.Len)
				}
			case errors.Is(err, ErrNotTCP):
				if icmpQuotingTCP(f.linkType, f.data) {
					icmp++
				}
			case errors.Is(err, ErrMalformed):
				if !strings.HasPrefix(err.Error(), "tcp ") {
					t.Errorf("%s: frame %d: got error %v, want a decoded frame or a tcp header error", name, i+1, err)
				}
				bad = append(bad, i+1)
			default:
				t.Errorf("%s: frame %d: got error %v", name, i+1, err)
			}
		}
		if want := corpusInt(t, row, "tcp_rst_count"); rst != want {
			t.Errorf("%s: got %d RST segments, want %d (tcp_rst_count)", name, rst, want)
		}
		if want := corpusInt(t, row, "tcp_packets"); tcp+len(bad)+icmp != want {
			t.Errorf("%s: got %d tcp + %d undecodable + %d icmp quoting tcp, want %d (tcp_packets)",
				name, tcp, len(bad), icmp, want)
		}
		if len(bad) > 0 && tshark != "" {
			malformed := tsharkMalformedTCP(t, tshark, path)
			for _, n := range bad {
				if !malformed[n] {
					t.Errorf("%s: frame %d: undecodable, but tshark finds its tcp header valid", name, n)
				}
			}
		}
	}
	t.Logf("corpus: %d files, %d frames", files, total)
	if files < 90 || total < 10000 {
		t.Errorf("corpus: got %d files with %d frames, want the whole corpus", files, total)
	}
}
