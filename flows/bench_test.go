package flows

import (
	"fmt"
	"testing"
	"time"

	"github.com/rstscope/rstscope/capture"
)

// BenchmarkAdd measures Table.Add on an established flow (data and ACKs),
// with the flow hash set as the pipeline's reader sets it (Prefetch).
func BenchmarkAdd(b *testing.B) {
	tb := NewTable(Options{})
	pk := ladder(b, lines(handshake, []string{"C>S PA seq=101 ack=301 len=1400", "S>C A seq=301 ack=1501"})...)
	for i := range pk {
		pk[i].FlowHash = capture.FlowHash(pk[i].Src, pk[i].Dst)
		tb.Add(&pk[i])
	}
	data, ack := pk[3], pk[4]
	b.ReportAllocs()
	n := uint32(0)
	for b.Loop() {
		n++
		data.Seq = 101 + n*1400
		data.Time = data.Time.Add(time.Microsecond)
		ack.Ack = data.Seq + 1400
		ack.Time = data.Time
		tb.Add(&data)
		tb.Add(&ack)
	}
	b.ReportMetric(float64(2*b.N)/b.Elapsed().Seconds(), "pkts/s")
}

// BenchmarkTracker compares one Table with Sharded (2 shards) on many
// concurrent established flows: 20,000 flows of 12 packets, interleaved.
func BenchmarkTracker(b *testing.B) {
	const nflows, per = 20000, 12
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var pk []capture.Packet
	for i := range nflows {
		var p capture.Packet
		cl, srv := flowAddrs(i)
		for k := range per {
			p = capture.Packet{Time: t0, Src: cl, Dst: srv, Flags: capture.ACK, Seq: uint32(1000 + 100*k), Ack: 5000, Len: 100, TTL: 64, IPID: uint16(k), Window: 1000}
			switch {
			case k == 0:
				p.Flags, p.Len = capture.SYN, 0
			case k == 1:
				p.Src, p.Dst, p.Flags, p.Seq, p.Ack, p.Len = srv, cl, capture.SYN|capture.ACK, 4999, 1001, 0
			case k%2 == 1:
				p.Src, p.Dst, p.Seq, p.Ack, p.Len = srv, cl, 5000, uint32(1000+100*k), 0
			}
			p.FlowHash = capture.FlowHash(p.Src, p.Dst)
			pk = append(pk, p)
		}
	}
	// Interleave: packet k of every flow, then packet k+1.
	stream := make([]capture.Packet, 0, len(pk))
	for k := range per {
		for i := range nflows {
			stream = append(stream, pk[i*per+k])
		}
	}
	for i := range stream {
		stream[i].Index = uint64(i + 1)
		stream[i].Time = t0.Add(time.Duration(i) * time.Microsecond)
	}
	benchTrackers(b, stream, 0, 1, 2)
}

// benchTrackers runs a sub-benchmark per shard count (0: one Table, n:
// Sharded with n shards) that feeds pk through a new tracker and closes
// it, reporting packets/s.
func benchTrackers(b *testing.B, pk []capture.Packet, shardCounts ...int) {
	for _, shards := range shardCounts {
		name := "table"
		if shards > 0 {
			name = fmt.Sprintf("sharded-%d", shards)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var tr interface {
					Add(*capture.Packet)
					Close()
				}
				if shards == 0 {
					tr = NewTable(Options{})
				} else {
					tr = NewSharded(shards, Options{})
				}
				for i := range pk {
					tr.Add(&pk[i])
				}
				tr.Close()
			}
			b.ReportMetric(float64(b.N*len(pk))/b.Elapsed().Seconds(), "pkts/s")
		})
	}
}

// BenchmarkFreezeThaw: a packet of a frozen flow, with the table's hot
// tier full, thaws it and freezes the coldest hot flow: 10,000
// established flows (as BenchmarkMemory_established) with HotFlows 100,
// one packet each in turn, each to the least recently active flow.
func BenchmarkFreezeThaw(b *testing.B) {
	const n = 10_000
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tb := NewTable(Options{HotFlows: 100})
	var p capture.Packet
	for i := range n {
		establish(tb, &p, i, t0.Add(time.Duration(i)*time.Microsecond))
	}
	at := t0.Add(time.Second)
	frame := p.Index
	i := 0
	thaws := tb.frz.thaws
	b.ReportAllocs()
	for b.Loop() {
		cl, srv := flowAddrs(i)
		at = at.Add(time.Microsecond)
		frame++
		isn := uint32(i) * 7
		p = capture.Packet{Index: frame, Time: at, Src: cl, Dst: srv, Flags: capture.ACK, Seq: isn + 101, Ack: 10001, TTL: 64, IPID: 6, Window: 1000}
		p.FlowHash = capture.FlowHash(p.Src, p.Dst)
		tb.Add(&p)
		i = (i + 1) % n
	}
	if tb.frz.thaws-thaws < uint64(b.N) {
		b.Fatalf("%d thaws for %d packets: the packets were not to frozen flows", tb.frz.thaws-thaws, b.N)
	}
}
