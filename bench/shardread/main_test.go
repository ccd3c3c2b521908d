package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rstscope/rstscope/capture"
	"github.com/rstscope/rstscope/flows"
	"github.com/rstscope/rstscope/internal/pcapgen"
)

// TestShard: the shards split the packets by route hash without losing or
// repeating one, and between them emit the events one table emits for the
// whole capture (a flow's packets all go to one shard), so that the
// yardstick does the work rstscope does.
func TestShard(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mix.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	g := pcapgen.New(f, pcapgen.Options{Snaplen: 128, Seed: 1, Pad: true})
	if _, err := pcapgen.Mix(g, pcapgen.MixOptions{Flows: 600, Packets: 20000}); err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	// One table over every packet.
	src, err := capture.OpenFile(path, 0, capture.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var wantEvents, wantPackets int
	table := flows.NewTable(flows.Options{OnEvent: func(*flows.Event) { wantEvents++ }})
	var p capture.Packet
	for src.Next(&p) == nil {
		wantPackets++
		table.Add(&p)
	}
	table.Close()
	src.Close()
	if wantEvents == 0 {
		t.Fatal("the mix made no event: nothing to compare")
	}

	for _, n := range []int{1, 2, 3} {
		events, packets := 0, 0
		for i := range n {
			e, k, err := shard(path, i, n)
			if err != nil {
				t.Fatalf("%d shards, shard %d: %v", n, i, err)
			}
			if n > 1 && (k == 0 || k == wantPackets) {
				t.Errorf("%d shards, shard %d: %d of %d packets, want a share", n, i, k, wantPackets)
			}
			events += e
			packets += k
		}
		if events != wantEvents || packets != wantPackets {
			t.Errorf("%d shards: %d events and %d packets in all, want %d and %d (one table)", n, events, packets, wantEvents, wantPackets)
		}
	}
}
