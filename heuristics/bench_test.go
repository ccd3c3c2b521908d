package heuristics

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"

	"github.com/rstscope/rstscope/capture"
	"github.com/rstscope/rstscope/flows"
	"github.com/rstscope/rstscope/internal/pcapgen"
)

// mixEvents generates the benchmark mix of `make bench` (HTTP, TLS and
// the RST scenarios), scaled down to packets, and returns the events the
// flow table emits for it, as the engine gets them.
func mixEvents(b testing.TB, packets int) []flows.Event {
	b.Helper()
	var buf bytes.Buffer
	g := pcapgen.New(&buf, pcapgen.Options{Snaplen: 128, Seed: 1, Pad: true})
	if _, err := pcapgen.Mix(g, pcapgen.MixOptions{Flows: max(1, packets*280000/10200000), Packets: packets}); err != nil {
		b.Fatal(err)
	}
	if err := g.Close(); err != nil {
		b.Fatal(err)
	}
	src, err := capture.OpenFile("-", 0, capture.FileOptions{Stdin: &buf})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	var evs []flows.Event
	table := flows.NewTable(flows.Options{OnEvent: func(ev *flows.Event) { evs = append(evs, *ev) }})
	var p capture.Packet
	for {
		if err := src.Next(&p); err != nil {
			if !errors.Is(err, io.EOF) {
				b.Fatal(err)
			}
			break
		}
		table.Add(&p)
	}
	table.Close()
	if len(evs) < 100 {
		b.Fatalf("%d events from the mix, want 100 or more", len(evs))
	}
	return evs
}

// BenchmarkJudge judges the events of a 1 M-packet benchmark mix (about
// 700 RSTs of every scenario), as the judging goroutine does for
// `rstscope -r`: the time and allocations per event.
func BenchmarkJudge(b *testing.B) {
	evs := mixEvents(b, 1020000)
	var e Engine
	b.ReportAllocs()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	b.ResetTimer()
	for b.Loop() {
		for i := range evs {
			e.Judge(&evs[i])
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&m1)
	n := float64(b.N * len(evs))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/event")
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/n, "allocs/event")
	b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/n, "B/event")
	b.ReportMetric(0, "ns/op")
}
