package capture

import (
	"bytes"
	"compress/gzip"
	"path/filepath"
	"testing"
)

// memCapture writes the TCP packets of a corpus file, repeated, to an
// in-memory pcap; with a second file (of another link type), to a pcapng
// with both files' packets interleaved.
func memCapture(t testing.TB, second string, repeat int) ([]byte, int) {
	pkts, err := readAll(t, openOrFatal(t, filepath.Join(corpusDir, "ndpi/webex.pcap"), 0, FileOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	links := []int{1}
	if second != "" {
		more, err := readAll(t, openOrFatal(t, filepath.Join(corpusDir, second), 0, FileOptions{}))
		if err != nil {
			t.Fatal(err)
		}
		links = append(links, more[0].LinkType)
		// Interleave, so that every stretch of packets has both.
		var mixed []Packet
		for i := range pkts {
			mixed = append(mixed, pkts[i])
			if i < len(more) {
				mixed = append(mixed, more[i])
			}
		}
		pkts = mixed
	}
	var buf bytes.Buffer
	w, err := NewExportWriter(&buf, links)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for r := 0; r < repeat; r++ {
		for i := range pkts {
			if err := w.WritePacket(&pkts[i]); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), n
}

// TestFileSource_allocs: reading and decoding frames from an in-memory
// capture allocates nothing per packet once the buffers exist. Known
// exceptions, in other packages, get a budget: compress/flate allocates per
// deflate block (0.1 per packet), and pcapgo's pcapng reader boxes the
// link type of each frame into an interface, which allocates for values
// of 256 and up (SLL2 is 276): 1 per such frame.
func TestFileSource_allocs(t *testing.T) {
	gz := func(b []byte) []byte {
		var out bytes.Buffer
		w := gzip.NewWriter(&out)
		w.Write(b)
		w.Close()
		return out.Bytes()
	}
	pcapData, n := memCapture(t, "", 8)
	ngData, _ := memCapture(t, "ndpi/KakaoTalk_chat.pcap", 8)                  // Ethernet and SLL
	ngSLL2, _ := memCapture(t, "suricata-verify/decode-sll2-02/input.pcap", 8) // Ethernet and SLL2
	for _, tc := range []struct {
		name   string
		data   []byte
		filter string
		budget float64 // allocations per packet
	}{
		{"pcap", pcapData, "", 0},
		{"pcapng", ngData, "", 0},
		{"pcapng_sll2", ngSLL2, "", 1},
		{"pcap_gzip", gz(pcapData), "", 0.1},
		{"pcap_filter", pcapData, "tcp", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.filter != "" && !cgoEnabled {
				t.Skip("BPF filters need cgo")
			}
			s, err := newFileSource(bytes.NewReader(tc.data), nil, "mem", 0, FileOptions{Filter: tc.filter})
			if err != nil {
				t.Fatal(err)
			}
			var p Packet
			for i := 0; i < 100; i++ { // warm up: buffers, link types, first errors
				if err := s.Next(&p); err != nil {
					t.Fatal(err)
				}
			}
			const per = 200
			if n < 100+per*12 {
				t.Fatalf("capture holds %d packets, too few", n)
			}
			allocs := testing.AllocsPerRun(10, func() {
				for i := 0; i < per; i++ {
					if err := s.Next(&p); err != nil {
						t.Fatal(err)
					}
				}
			})
			if allocs > tc.budget*per {
				t.Errorf("%.1f allocations per %d packets, want at most %.0f", allocs, per, tc.budget*per)
			}
		})
	}
}

// BenchmarkFileSource reads an in-memory pcap to its end.
func BenchmarkFileSource(b *testing.B) {
	data, n := memCapture(b, "", 4)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		s, err := newFileSource(bytes.NewReader(data), nil, "mem", 0, FileOptions{})
		if err != nil {
			b.Fatal(err)
		}
		var p Packet
		for s.Next(&p) == nil {
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "pkts/s")
}
