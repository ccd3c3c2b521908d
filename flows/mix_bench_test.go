package flows

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/rstscope/rstscope/capture"
	"github.com/rstscope/rstscope/internal/pcapgen"
)

// mixPackets decodes a generated benchmark mix (`make bench`'s, scaled
// down to n packets over a span that keeps its flows per second, so that
// as many flows are held at once) into packets whose payloads are copied.
func mixPackets(b *testing.B, n int) []capture.Packet {
	b.Helper()
	var buf bytes.Buffer
	g := pcapgen.New(&buf, pcapgen.Options{Snaplen: 128, Seed: 1, Pad: true})
	flows := max(1, n*280000/10200000)
	span := time.Duration(int64(10*time.Minute) * int64(n) / 10200000)
	if _, err := pcapgen.Mix(g, pcapgen.MixOptions{Flows: flows, Packets: n, Duration: span}); err != nil {
		b.Fatalf("generate mix: %v", err)
	}
	if err := g.Close(); err != nil {
		b.Fatalf("generate mix: %v", err)
	}
	src, err := capture.OpenFile("-", 0, capture.FileOptions{Stdin: &buf})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	var pk []capture.Packet
	var payload []byte
	for {
		var p capture.Packet
		err := src.Next(&p)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		p.Frame = nil
		payload = append(payload, p.Payload...)
		p.Payload = payload[len(payload)-len(p.Payload):]
		if p.FlowHash == 0 {
			p.FlowHash = capture.FlowHash(p.Src, p.Dst)
		}
		pk = append(pk, p)
	}
	return pk
}

// BenchmarkMix runs the flow tracker over a generated mix of HTTP, TLS
// and RST scenarios held in memory (decoded beforehand): its share of
// `rstscope -r` on `make bench`'s capture, without reading, decoding or
// judging; one Table, and Sharded with two shards (the caller's
// goroutine routes, as the pipeline's does).
func BenchmarkMix(b *testing.B) {
	benchTrackers(b, mixPackets(b, 1_000_000), 0, 2)
}
