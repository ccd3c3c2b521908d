package report

import (
	"io"
	"testing"
	"time"

	"github.com/rstscope/rstscope/heuristics"
)

// BenchmarkWrite3000: 3,000 findings (the fixtures, repeated at later
// times) through each format, as a run with that many resets writes them
// (issue 17: text no slower than ndjson by more than 30%).
func BenchmarkWrite3000(b *testing.B) {
	base := testFindings()
	fs := make([]heuristics.Finding, 3000)
	for i := range fs {
		fs[i] = base[i%len(base)]
		d := time.Duration(i) * time.Second
		fs[i].RST.Time = at(fs[i].RST.Time.Add(d))
		fs[i].Flow.Start = at(fs[i].Flow.Start.Add(d))
	}
	for _, format := range []string{"ndjson", "json", "text", "markdown", "ecs"} {
		b.Run(format, func(b *testing.B) {
			for b.Loop() {
				w, err := New(format, io.Discard, Options{})
				if err != nil {
					b.Fatal(err)
				}
				for i := range fs {
					w.Write(&fs[i])
				}
				if err := w.Close(testSummary()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(fs))/b.Elapsed().Seconds(), "findings/s")
		})
	}
}
