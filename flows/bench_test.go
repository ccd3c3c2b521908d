package flows

import (
	"testing"
	"time"
)

// BenchmarkAdd measures Table.Add on an established flow (data and ACKs).
func BenchmarkAdd(b *testing.B) {
	tb := NewTable(Options{})
	pk := ladder(b, lines(handshake, []string{"C>S PA seq=101 ack=301 len=1400", "S>C A seq=301 ack=1501"})...)
	for i := range pk {
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
