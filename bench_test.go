package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/rstscope/rstscope/internal/pcapgen"
)

// benchCapture generates the benchmark mix (as `make bench` does, scaled
// down) into memory and writes it to a temporary file, which the page cache
// then serves from memory: rstscope opens files by name.
func benchCapture(b *testing.B, packets int) (path string, size int64, pkts int) {
	b.Helper()
	var buf bytes.Buffer
	g := pcapgen.New(&buf, pcapgen.Options{Snaplen: 128, Seed: 1, Pad: true})
	flows := max(1, packets*280000/10200000)
	if _, err := pcapgen.Mix(g, pcapgen.MixOptions{Flows: flows, Packets: packets}); err != nil {
		b.Fatalf("generate mix: %v", err)
	}
	if err := g.Close(); err != nil {
		b.Fatalf("generate mix: %v", err)
	}
	path = filepath.Join(b.TempDir(), "mix.pcap")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	return path, int64(buf.Len()), g.Stats().Packets
}

// BenchmarkPipeline runs rstscope end to end (read, decode, track, judge,
// JSON report) on a generated mix of HTTP, TLS and RST scenarios, like
// `rstscope -r F --format json -o /dev/null`.
func BenchmarkPipeline(b *testing.B) {
	for _, bc := range []struct {
		name    string
		packets int
	}{
		{"mix-1M", 1020000},
	} {
		b.Run(bc.name, func(b *testing.B) {
			path, size, n := benchCapture(b, bc.packets)
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				if code := run([]string{"-r", path, "--format", "json"}, nil, io.Discard, io.Discard, make(chan struct{})); code != 0 {
					b.Fatalf("rstscope exit %d", code)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "pkts/s")
		})
	}
}
