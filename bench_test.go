package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"testing"

	"github.com/rstscope/rstscope/internal/pcapgen"
)

// benchCapture generates the benchmark mix (as `make bench` does, scaled
// down) into memory.
func benchCapture(b *testing.B, packets int) (data []byte, pkts int) {
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
	return buf.Bytes(), g.Stats().Packets
}

// BenchmarkPipeline runs rstscope end to end (read, decode, track, judge,
// JSON report) on a generated mix of HTTP, TLS and RST scenarios held in
// memory, like `rstscope -r F --format json -o /dev/null` (the reader and
// decoder run in a goroutine of their own, see capture.Prefetch), with one
// flow table and with two shards.
func BenchmarkPipeline(b *testing.B) {
	for _, bc := range []struct {
		name    string
		packets int
		shards  string
	}{
		{"mix-1M", 1020000, "1"},
		{"mix-1M-shards-2", 1020000, "2"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			data, n := benchCapture(b, bc.packets)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				// -r - reads the stdin run is given: the capture in memory.
				if code := run([]string{"-r", "-", "--format", "json", "--shards", bc.shards}, bytes.NewReader(data), io.Discard, io.Discard, make(chan struct{})); code != 0 {
					b.Fatalf("rstscope exit %d", code)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "pkts/s")
		})
	}
}

// BenchmarkCorpus runs rstscope end to end on the largest captures of the
// corpus, read from memory: the largest in bytes (a 2.6 MB Linux SLL2
// capture of 159 big frames) and the one with the most packets. Small
// files measure rstscope's fixed start-up cost as much as its per-packet
// speed; BenchmarkPipeline measures the latter.
func BenchmarkCorpus(b *testing.B) {
	for _, path := range []string{
		"pcaps/corpus/suricata-verify/decode-sll2-02/input.pcap",
		"pcaps/corpus/ndpi/alexa-app.pcapng",
	} {
		b.Run(path[len("pcaps/corpus/"):], func(b *testing.B) {
			data, err := os.ReadFile(path)
			if err != nil {
				b.Fatal(err)
			}
			var out bytes.Buffer
			if code := run([]string{"-r", "-", "--format", "json"}, bytes.NewReader(data), &out, io.Discard, make(chan struct{})); code != 0 {
				b.Fatalf("rstscope exit %d", code)
			}
			var st struct {
				Stats struct{ Packets int } `json:"stats"`
			}
			if err := json.Unmarshal(out.Bytes(), &st); err != nil || st.Stats.Packets == 0 {
				b.Fatalf("no packets read from %s: %v", path, err)
			}
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if code := run([]string{"-r", "-", "--format", "json"}, bytes.NewReader(data), io.Discard, io.Discard, make(chan struct{})); code != 0 {
					b.Fatalf("rstscope exit %d", code)
				}
			}
			b.ReportMetric(float64(b.N*st.Stats.Packets)/b.Elapsed().Seconds(), "pkts/s")
		})
	}
}
