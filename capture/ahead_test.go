package capture

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// gzipData compresses b with gzip.
func gzipData(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

// zstdBytes compresses b with zstd (the default level, one frame).
func zstdBytes(b []byte) ([]byte, error) {
	var out bytes.Buffer
	w, err := zstd.NewWriter(&out)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(b); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// dribble returns data in reads of 1 to max bytes, then err.
type dribble struct {
	data []byte
	max  int
	err  error
	rng  *rand.Rand
}

func (d *dribble) Read(p []byte) (int, error) {
	if len(d.data) == 0 {
		return 0, d.err
	}
	n := min(len(p), len(d.data), 1+d.rng.IntN(d.max))
	copy(p, d.data[:n])
	d.data = d.data[n:]
	return n, nil
}

// TestAheadReader_sameBytesThenError: what aheadReader reads is its
// source's bytes in order, across block ends and reads of every size,
// and then the source's own error, after every byte before it.
func TestAheadReader_sameBytesThenError(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 3*aheadBlockSize+12345)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	cut := errors.New("cut")
	for _, tc := range []struct {
		name string
		size int // of the data
		max  int // the source's largest read
		err  error
		buf  int // the caller's reads
	}{
		{"eof_small_reads", len(data), 7000, io.EOF, 4096},
		{"eof_whole_blocks", 2 * aheadBlockSize, aheadBlockSize, io.EOF, aheadBlockSize},
		{"error_mid_block", len(data) - 999, 1 << 16, cut, 100_000},
		{"unexpected_eof_byte_reads", 300_000, 1 << 20, io.ErrUnexpectedEOF, 1},
		{"empty", 0, 1, io.EOF, 10},
	} {
		for _, eager := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/eager=%v", tc.name, eager), func(t *testing.T) {
				a := newAheadReader(&dribble{data: data[:tc.size], max: tc.max, err: tc.err, rng: rng}, eager)
				defer a.Close()
				var got []byte
				buf := make([]byte, tc.buf)
				var err error
				for err == nil {
					var n int
					n, err = a.Read(buf)
					got = append(got, buf[:n]...)
				}
				if !bytes.Equal(got, data[:tc.size]) {
					t.Fatalf("read %d bytes, want the source's %d (first difference at %d)", len(got), tc.size, firstDiff(got, data[:tc.size]))
				}
				if err != tc.err {
					t.Errorf("ended with %v, want the source's %v", err, tc.err)
				}
				if _, again := a.Read(buf); again != tc.err {
					t.Errorf("read after the end: %v, want %v again", again, tc.err)
				}
			})
		}
	}
}

// TestAheadReader_eagerDoesNotWait: reading a pipe ahead (eager), the
// bytes a write put in come out at once, not when a block has filled:
// a live feed's packets are not held back.
func TestAheadReader_eagerDoesNotWait(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	a := newAheadReader(pr, true)
	defer a.Close()
	go pw.Write([]byte("first packet"))
	got := make(chan string, 1)
	go func() {
		b := make([]byte, 100)
		n, _ := a.Read(b)
		got <- string(b[:n])
	}()
	select {
	case s := <-got:
		if s != "first packet" {
			t.Errorf("read %q, want the bytes written", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the bytes written were not read within 5 s: held until a block fills")
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestAheadReader_closeStops: Close ends the reading goroutine, whether
// it waits for a free block (nothing read yet) or the caller stopped
// halfway.
func TestAheadReader_closeStops(t *testing.T) {
	base := runtime.NumGoroutine()
	endless := &dribble{data: make([]byte, 64*aheadBlockSize), max: 1 << 16, err: io.EOF, rng: rand.New(rand.NewPCG(3, 4))}
	a := newAheadReader(endless, false)
	b := newAheadReader(bytes.NewReader(make([]byte, 10*aheadBlockSize)), true)
	if _, err := io.ReadFull(b, make([]byte, aheadBlockSize+5)); err != nil {
		t.Fatal(err)
	}
	// A Read waiting for a block when Close comes returns (the source
	// gives nothing: a quiet pipe).
	quiet, w := io.Pipe()
	defer w.Close()
	c := newAheadReader(quiet, true)
	readErr := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 10))
		readErr <- err
	}()
	time.Sleep(10 * time.Millisecond)
	c.Close()
	select {
	case err := <-readErr:
		if err != errAheadClosed {
			t.Errorf("Read waiting at Close: %v, want errAheadClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read waiting at Close did not return")
	}
	w.Close() // the goroutine's read of the pipe returns
	a.Close()
	b.Close()
	b.Close() // twice is harmless
	if n := goroutinesBackTo(base); n > base {
		t.Errorf("%d goroutines after Close, want %d", n, base)
	}
}

// goroutinesBackTo waits up to 5 s for the goroutines to be no more than
// base, and gives how many there are.
func goroutinesBackTo(base int) int {
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	return runtime.NumGoroutine()
}

// TestOpenReader_compressedAheadStops: a gzip or zstd capture, read
// ahead, gives the plain capture's packets, and its goroutine stops when
// the source is closed at its end, when closed early, and when opening
// fails on what the compressed stream holds.
func TestOpenReader_compressedAheadStops(t *testing.T) {
	pcapData, _ := memCapture(t, "", 4)
	for len(pcapData) < 3*aheadBlocks*aheadBlockSize {
		// Longer than the blocks read ahead, so that the goroutine is
		// still waiting for a free block when the source closes: the
		// records again, after the file header.
		pcapData = append(pcapData, pcapData[24:]...)
	}
	gz := func(b []byte) ([]byte, error) { return gzipData(b), nil }
	for _, c := range []struct {
		name     string
		compress func([]byte) ([]byte, error)
	}{{"gzip", gz}, {"zstd", zstdBytes}} {
		t.Run(c.name, func(t *testing.T) {
			packed, err := c.compress(pcapData)
			if err != nil {
				t.Fatal(err)
			}
			base := runtime.NumGoroutine()
			// Read to the end, and the packets are all there.
			s, err := newFileSource(bytes.NewReader(packed), nil, "mem."+c.name, 0, FileOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if s.ahead == nil || !s.compressed {
				t.Fatalf("a %s file in memory is not read ahead", c.name)
			}
			plain, err := newFileSource(bytes.NewReader(pcapData), nil, "mem", 0, FileOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var p, q Packet
			n := 0
			for {
				err1, err2 := s.Next(&p), plain.Next(&q)
				if err1 != nil || err2 != nil {
					if err1 != io.EOF || err2 != io.EOF {
						t.Fatalf("packet %d: %s %v, plain %v; want io.EOF both", n+1, c.name, err1, err2)
					}
					break
				}
				n++
				if p.Index != q.Index || p.Seq != q.Seq || !p.Time.Equal(q.Time) || !bytes.Equal(p.Payload, q.Payload) {
					t.Fatalf("packet %d differs between the %s and the plain capture", n, c.name)
				}
			}
			if n < 100 {
				t.Errorf("read %d packets, want the capture's", n)
			}
			if read, size := s.Progress(); read != int64(len(packed)) || size != 0 {
				t.Errorf("progress at the end: %d of %d bytes, want the %d compressed bytes read", read, size, len(packed))
			}
			s.Close()
			// Closed after one packet.
			s, err = newFileSource(bytes.NewReader(packed), nil, "mem."+c.name, 0, FileOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Next(&p); err != nil {
				t.Fatal(err)
			}
			s.Close()
			// Not a capture inside: text longer than the blocks read ahead.
			text, err := c.compress(bytes.Repeat([]byte("hello, not a capture at all\n"), 2*aheadBlocks*aheadBlockSize/28))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := newFileSource(bytes.NewReader(text), nil, "mem."+c.name, 0, FileOptions{}); err == nil || !errors.Is(err, ErrNotCapture) {
				t.Fatalf("text inside %s: got %v, want ErrNotCapture", c.name, err)
			}
			if g := goroutinesBackTo(base); g > base {
				t.Errorf("%d goroutines after the sources closed, want %d", g, base)
			}
		})
	}
}
