package capture

import (
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestProgress: a file's Progress counts the bytes read of its size,
// reaching the size at the end; for gzip the compressed bytes of the
// compressed size; several files sum; stdin has no size.
func TestProgress(t *testing.T) {
	const demo = "../pcaps/demo.pcap"
	raw, err := os.ReadFile(demo)
	if err != nil {
		t.Fatal(err)
	}
	gz := filepath.Join(t.TempDir(), "demo.pcap.gz")
	f, err := os.Create(gz)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	zw.Write(raw)
	zw.Close()
	f.Close()
	gzSize := fileSize(t, gz)

	for _, tc := range []struct {
		name  string
		open  func() (Source, error)
		size  int64
		files int
	}{
		{"pcap", func() (Source, error) { return OpenFile(demo, 0, FileOptions{}) }, int64(len(raw)), 1},
		{"gzip", func() (Source, error) { return OpenFile(gz, 0, FileOptions{}) }, gzSize, 1},
		{"prefetch", func() (Source, error) {
			s, err := OpenFile(demo, 0, FileOptions{})
			return Prefetch(s), err
		}, int64(len(raw)), 1},
		{"merged", func() (Source, error) { return OpenFiles([]string{demo, gz}, FileOptions{}) }, int64(len(raw)) + gzSize, 2},
		{"stdin", func() (Source, error) {
			r, w, err := os.Pipe()
			if err != nil {
				return nil, err
			}
			go func() { w.Write(raw); w.Close() }()
			return OpenFile("-", 0, FileOptions{Stdin: r})
		}, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := tc.open()
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			pr, ok := src.(Progresser)
			if !ok {
				t.Fatalf("%T is not a Progresser", src)
			}
			var p Packet
			for {
				if err := src.Next(&p); err == io.EOF {
					break
				} else if err != nil {
					t.Fatal(err)
				}
				if read, size := pr.Progress(); read <= 0 || size != tc.size || (size > 0 && read > size) {
					t.Fatalf("frame %d: got %d of %d bytes read, want some of %d", p.Index, read, size, tc.size)
				}
			}
			read, size := pr.Progress()
			want := tc.size
			if want == 0 {
				want = int64(len(raw))
			}
			if read != want || size != tc.size {
				t.Errorf("at the end: got %d of %d bytes read, want %d of %d", read, size, want, tc.size)
			}
		})
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
