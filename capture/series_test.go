package capture

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// splitCapture writes the records of src into n files of dir, one after
// the other in time (as tcpdump -C rotates), and returns their paths.
func splitCapture(t *testing.T, src, dir string, n int) []string {
	t.Helper()
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var datas [][]byte
	var cis []gopacket.CaptureInfo
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		datas, cis = append(datas, data), append(cis, ci)
	}
	var paths []string
	per := (len(datas) + n - 1) / n
	for k := range n {
		p := filepath.Join(dir, fmt.Sprintf("trace_%05d.pcap", k))
		out, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		w := pcapgo.NewWriterNanos(out)
		if err := w.WriteFileHeader(65535, layers.LinkType(r.LinkType())); err != nil {
			t.Fatal(err)
		}
		for i := k * per; i < min((k+1)*per, len(datas)); i++ {
			if err := w.WritePacket(cis[i], datas[i]); err != nil {
				t.Fatal(err)
			}
		}
		out.Close()
		paths = append(paths, p)
	}
	return paths
}

// TestSeries_rotatedFiles: a directory (or a pattern) of rotated files is
// read in time order, every packet once, holding at most two files open
// at any time; the same as reading the one capture they came from.
func TestSeries_rotatedFiles(t *testing.T) {
	const src = "../pcaps/demo.pcap"
	dir := t.TempDir()
	split := splitCapture(t, src, dir, 8)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not a capture"), 0o644)
	os.WriteFile(filepath.Join(dir, ".hidden.pcap"), nil, 0o644)

	want := readEach(t, func() (Source, error) { return OpenFile(src, 0, FileOptions{}) }, nil)
	for _, arg := range []string{dir, filepath.Join(dir, "trace_*.pcap")} {
		paths, err := ExpandPaths([]string{arg})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(paths) != fmt.Sprint(split) {
			t.Fatalf("%s: got files %v, want %v", arg, paths, split)
		}
		maxOpen := 0
		got := readEach(t, func() (Source, error) { return OpenFiles(paths, FileOptions{}) }, func(s Source) {
			m := s.(*mergeSource)
			n := 0
			for i := range m.srcs {
				if m.opened[i] && !m.done[i] {
					n++
				}
			}
			maxOpen = max(maxOpen, n)
		})
		if len(got) != len(want) {
			t.Fatalf("%s: got %d packets, want %d", arg, len(got), len(want))
		}
		for i := range got {
			if !got[i].Time.Equal(want[i].Time) || got[i].Seq != want[i].Seq || got[i].Src != want[i].Src {
				t.Fatalf("%s: packet %d: got %v %v seq %d, want %v %v seq %d", arg, i, got[i].Time, got[i].Src, got[i].Seq, want[i].Time, want[i].Src, want[i].Seq)
			}
		}
		if maxOpen > 2 || maxOpen < 1 {
			t.Errorf("%s: got up to %d files open at once, want 1 or 2", arg, maxOpen)
		}
	}
	if _, err := ExpandPaths([]string{filepath.Join(dir, "nothing*.pcap")}); err == nil {
		t.Errorf("a pattern that matches nothing: got no error")
	}
	if _, err := ExpandPaths([]string{t.TempDir()}); err == nil {
		t.Errorf("a directory without captures: got no error")
	}
}

// TestSeries_compressedRotatedFiles: rotated files compressed after the
// rotation (gzip or zstd, as a log rotator leaves them) are found in a
// directory and read in time order as the plain ones are.
func TestSeries_compressedRotatedFiles(t *testing.T) {
	const src = "../pcaps/demo.pcap"
	dir := t.TempDir()
	split := splitCapture(t, src, dir, 6)
	var packed []string
	for i, p := range split {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		name, out := p+".gz", gzipData(data)
		if i%2 == 1 {
			if out, err = zstdBytes(data); err != nil {
				t.Fatal(err)
			}
			name = p + ".zst"
		}
		if err := os.WriteFile(name, out, 0o644); err != nil {
			t.Fatal(err)
		}
		os.Remove(p)
		packed = append(packed, name)
	}
	paths, err := ExpandPaths([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(paths) != fmt.Sprint(packed) {
		t.Fatalf("got files %v, want %v", paths, packed)
	}
	want := readEach(t, func() (Source, error) { return OpenFile(src, 0, FileOptions{}) }, nil)
	got := readEach(t, func() (Source, error) { return OpenFiles(paths, FileOptions{}) }, nil)
	if len(got) != len(want) {
		t.Fatalf("got %d packets, want %d", len(got), len(want))
	}
	for i := range got {
		if !got[i].Time.Equal(want[i].Time) || got[i].Seq != want[i].Seq || got[i].Src != want[i].Src {
			t.Fatalf("packet %d: got %v %v seq %d, want %v %v seq %d", i, got[i].Time, got[i].Src, got[i].Seq, want[i].Time, want[i].Src, want[i].Seq)
		}
	}
}

// readEach reads every packet of the Source open gives, calling each after
// every packet.
func readEach(t *testing.T, open func() (Source, error), each func(Source)) []Packet {
	t.Helper()
	s, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var out []Packet
	for {
		var p Packet
		err := s.Next(&p)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		p.Payload, p.Frame = nil, nil
		out = append(out, p)
		if each != nil {
			each(s)
		}
	}
}
