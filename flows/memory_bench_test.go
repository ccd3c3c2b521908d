package flows

import (
	"net/netip"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/rstscope/rstscope/capture"
)

// liveHeap gives the bytes of live heap after a full collection; the
// heap the runtime held beyond it goes back to the OS, so that peakHeap
// counts this benchmark's heap only.
func liveHeap() uint64 {
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// peakHeap gives the heap the runtime holds from the OS (in use plus
// free spans not yet returned): an upper bound of the peak live heap.
func peakHeap() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapSys - m.HeapReleased
}

// flowAddrs gives the endpoints of synthetic flow i: a distinct client
// address and port per flow, one server.
func flowAddrs(i int) (cl, srv netip.AddrPort) {
	a := [4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}
	return netip.AddrPortFrom(netip.AddrFrom4(a), uint16(1024+i%60000)), netip.MustParseAddrPort("192.0.2.80:443")
}

// establish feeds flow i's first packets: handshake, a 100-byte request,
// a 1,000-byte response and the client's ACK.
func establish(tb *Table, p *capture.Packet, i int, at time.Time) {
	cl, srv := flowAddrs(i)
	isn := uint32(i) * 7
	pay := make([]byte, 0) // opaque payload, as for an unknown protocol
	steps := []struct {
		c2s      bool
		flags    capture.TCPFlags
		seq, ack uint32
		n        int
	}{
		{true, capture.SYN, isn, 0, 0},
		{false, capture.SYN | capture.ACK, 9000, isn + 1, 0},
		{true, capture.ACK, isn + 1, 9001, 0},
		{true, capture.PSH | capture.ACK, isn + 1, 9001, 100},
		{false, capture.PSH | capture.ACK, 9001, isn + 101, 1000},
		{true, capture.ACK, isn + 101, 10001, 0},
	}
	for k, s := range steps {
		*p = capture.Packet{Index: uint64(i*len(steps) + k + 1), Time: at.Add(time.Duration(k) * time.Microsecond),
			Flags: s.flags, Seq: s.seq, Ack: s.ack, Len: s.n, Payload: pay, TTL: 64, IPID: uint16(k), Window: 1000}
		if s.c2s {
			p.Src, p.Dst = cl, srv
		} else {
			p.Src, p.Dst, p.TTL = srv, cl, 52
		}
		tb.Add(p)
	}
}

// reportHeld checks that tb holds n flows and reports the live heap they
// took beyond before, per flow, and the heap held.
func reportHeld(b *testing.B, tb *Table, before uint64, n int) {
	b.Helper()
	after := liveHeap()
	if got := tb.Stats().Active; got != n {
		b.Fatalf("got %d flows held, want %d", got, n)
	}
	b.ReportMetric(float64(after-before)/float64(n), "B/flow")
	b.ReportMetric(float64(peakHeap())/(1<<20), "heap-MB")
	if z := &tb.frz; z.n > 0 {
		// A frozen flow: its record, its id and its share of the map.
		var rec, live int
		for _, q := range z.q {
			for _, c := range q.chunks {
				rec += len(c)
			}
			live += q.liveBytes
		}
		b.ReportMetric(float64(live)/float64(z.n), "live-B/record")
		b.ReportMetric(float64(rec)/float64(z.n), "B/record")
		b.ReportMetric(float64(rec+8*z.n+8*len(tb.flows.slots)*z.n/n)/float64(z.n), "B/frozen")
		b.ReportMetric(float64(tb.hotFlows()), "hot")
	}
	runtime.KeepAlive(tb)
}

// BenchmarkMemory_established holds 1,000,000 concurrent established
// flows (6 packets each) and reports the live heap per flow and the heap
// held (issue 17: at most 500 MB for 1 M flows).
func BenchmarkMemory_established(b *testing.B) { holdEstablished(b, 1_000_000, Options{}) }

// holdEstablished builds a table with opts holding n established flows
// (establish, a microsecond apart) per benchmark loop and reports the
// heap they take (reportHeld).
func holdEstablished(b *testing.B, n int, opts Options) {
	for b.Loop() {
		before := liveHeap()
		tb := NewTable(opts)
		var p capture.Packet
		for i := range n {
			establish(tb, &p, i, t0.Add(time.Duration(i)*time.Microsecond))
		}
		reportHeld(b, tb, before, n)
	}
}

// BenchmarkMemory_tiers holds 200,000 established flows (as
// BenchmarkMemory_established) all hot, then all frozen, and reports the
// live heap per flow of each tier.
func BenchmarkMemory_tiers(b *testing.B) {
	const n = 200_000
	for _, c := range []struct {
		name string
		hot  int
	}{{"hot", n}, {"frozen", 1}} {
		b.Run(c.name, func(b *testing.B) { holdEstablished(b, n, Options{HotFlows: c.hot}) })
	}
}

// BenchmarkMemory_synFlood: 2,000,000 SYNs on distinct tuples with the
// default MaxFlows, a refusing RST after every 2,000th: every RST gets
// its event; reports the live heap per held flow and the heap held
// (issue 17: at most 300 MB).
func BenchmarkMemory_synFlood(b *testing.B) {
	const syns, every = 2_000_000, 2000
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for b.Loop() {
		before := liveHeap()
		events := 0
		tb := NewTable(Options{OnEvent: func(*Event) { events++ }})
		var p capture.Packet
		frame := uint64(0)
		for i := range syns {
			cl, srv := flowAddrs(i)
			at := t0.Add(time.Duration(i) * 10 * time.Microsecond)
			frame++
			p = capture.Packet{Index: frame, Time: at, Src: cl, Dst: srv, Flags: capture.SYN, Seq: uint32(i), Window: 1024, TTL: 250, IPID: uint16(i)}
			tb.Add(&p)
			if i%every == every-1 {
				frame++
				p = capture.Packet{Index: frame, Time: at.Add(time.Microsecond), Src: srv, Dst: cl, Flags: capture.RST | capture.ACK, Ack: uint32(i) + 1, TTL: 64}
				tb.Add(&p)
			}
		}
		after := liveHeap()
		held := tb.Stats().Active
		tb.Close()
		if events != syns/every {
			b.Fatalf("got %d events, want %d (one per RST)", events, syns/every)
		}
		b.ReportMetric(float64(after-before)/float64(held), "B/flow")
		b.ReportMetric(float64(peakHeap())/(1<<20), "heap-MB")
		runtime.KeepAlive(tb)
	}
}

// BenchmarkMemory_fullLadder holds 250,000 concurrent flows of 20 packets
// (handshake, then data and ACKs: every ladder full, 16 slots) and
// reports the live heap per flow.
func BenchmarkMemory_fullLadder(b *testing.B) {
	const n, extra = 250_000, 14
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for b.Loop() {
		before := liveHeap()
		tb := NewTable(Options{})
		var p capture.Packet
		for i := range n {
			at := t0.Add(time.Duration(i) * time.Millisecond)
			establish(tb, &p, i, at)
			cl, srv := flowAddrs(i)
			isn := uint32(i) * 7
			for k := range extra {
				p = capture.Packet{Index: p.Index + 1, Time: at.Add(time.Duration(10+k) * time.Microsecond), Src: cl, Dst: srv,
					Flags: capture.ACK, Seq: isn + 101 + uint32(k)*100, Ack: 10001, Len: 100, TTL: 64, IPID: uint16(10 + k), Window: 1000}
				if k%2 == 1 {
					p.Src, p.Dst, p.Seq, p.Ack, p.Len, p.TTL = srv, cl, 10001, isn+101+uint32(k)*100, 0, 52
				}
				tb.Add(&p)
			}
		}
		reportHeld(b, tb, before, n)
	}
}
