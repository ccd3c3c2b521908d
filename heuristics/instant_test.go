package heuristics

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestInstant_appendText: an Instant prints as time's AppendFormat with
// InstantLayout prints it (clamped to years 0000-9999), for times across
// that range, its ends, and fractions below a microsecond, which both
// cut rather than round.
func TestInstant_appendText(t *testing.T) {
	times := []time.Time{
		minInstant, maxInstant, minInstant.Add(-time.Nanosecond), maxInstant.Add(time.Nanosecond),
		time.Unix(0, 0), time.Unix(1, 999), time.Unix(-1, 0), time.Unix(0, 999999999),
		time.Date(2026, 12, 7, 23, 59, 59, 999999999, time.UTC),
		time.Date(2024, 2, 29, 12, 0, 0, 1000, time.UTC),
		time.Date(1999, 12, 31, 23, 59, 59, 123456789, time.FixedZone("UTC+5", 5*3600)),
		time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	r := rand.New(rand.NewPCG(1, 2))
	span := maxInstant.Unix() - minInstant.Unix()
	for range 100000 {
		times = append(times, time.Unix(minInstant.Unix()+r.Int64N(span), r.Int64N(1e9)))
	}
	for _, tm := range times {
		// Outside the years RFC 3339 writes, the nearest end prints.
		var want string
		switch u := tm.UTC(); {
		case u.Year() < 0:
			want = "0000-01-01T00:00:00.000000Z"
		case u.Year() > 9999:
			want = "9999-12-31T23:59:59.999999Z"
		default:
			want = u.Format(InstantLayout)
		}
		got, err := Instant{tm}.AppendText([]byte("x"))
		if err != nil || string(got) != "x"+want {
			t.Fatalf("Instant{%v}.AppendText = %q, %v; want %q", tm, got, err, "x"+want)
		}
	}
}

func BenchmarkInstant_appendText(b *testing.B) {
	i := Instant{time.Date(2026, 12, 7, 23, 59, 59, 123456789, time.UTC)}
	buf := make([]byte, 0, 64)
	for b.Loop() {
		buf, _ = i.AppendText(buf[:0])
	}
}
