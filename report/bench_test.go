package report

import (
	"fmt"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/muesli/termenv"

	"github.com/rstscope/rstscope/heuristics"
)

// benchFindings returns n findings cycling through the fixtures, each on
// its own server so that none folds into a group and every one is a card.
func benchFindings(n int) []heuristics.Finding {
	base := testFindings()
	fs := make([]heuristics.Finding, n)
	for i := range fs {
		f := base[i%len(base)]
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		f.Flow.Server = netip.AddrPortFrom(a, 443)
		f.RST.Time = at(f.RST.Time.Time.Add(time.Duration(i) * time.Millisecond))
		f.RST.Packet += uint64(i) * 1000
		fs[i] = f
	}
	return fs
}

// benchWrite writes fs through a new Writer of format per iteration and
// reports the time per finding.
func benchWrite(b *testing.B, format string, opts Options, n int) {
	benchWriter(b, func() (Writer, error) { return New(format, io.Discard, opts) }, n)
}

// benchWriter writes n findings through a Writer from newW per
// iteration.
func benchWriter(b *testing.B, newW func() (Writer, error), n int) {
	fs := benchFindings(n)
	s := testSummary()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		w, err := newW()
		if err != nil {
			b.Fatal(err)
		}
		for i := range fs {
			if err := w.Write(&fs[i]); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(s); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/finding")
}

func BenchmarkText(b *testing.B) {
	for _, n := range []int{100, 3000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) { benchWrite(b, "text", Options{Width: 100}, n) })
	}
}

// BenchmarkTextColor forces ANSI colour: io.Discard has none, and the
// writer would take the plain layout.
func BenchmarkTextColor(b *testing.B) {
	ansi := termenv.ANSI
	benchWriter(b, func() (Writer, error) { return newText(io.Discard, Options{Width: 100, Color: true}, &ansi), nil }, 100)
}

func BenchmarkNDJSON(b *testing.B) {
	for _, n := range []int{100, 3000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) { benchWrite(b, "ndjson", Options{}, n) })
	}
}

func BenchmarkECS(b *testing.B) {
	benchWriter(b, func() (Writer, error) { return New("ecs", io.Discard, Options{}) }, 300)
}
