package capture

import (
	"testing"
	"time"
)

// TestProgressLine: with the input's size known the line gives the share
// read, the rate and the time left; without it, the count and rate.
func TestProgressLine(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		n          uint64
		elapsed    time.Duration
		read, size int64
		want       string
	}{
		{3_000_000, 2 * time.Second, 300e6, 1.2e9, "rstscope:  25% of 1.2 GB, 3000000 packets (1.50 M/s), 6s left, at 2026-01-02 03:04:05"},
		{65536, time.Second, 40e6, 40e6, "rstscope: 100% of 40 MB, 65536 packets (0.07 M/s), 0s left, at 2026-01-02 03:04:05"},
		{1_000_000, 4 * time.Second, 0, 0, "rstscope: 1000000 packets read (0.25 M/s), at 2026-01-02 03:04:05"},
	} {
		if got := progressLine(tc.n, tc.elapsed, tc.read, tc.size, at); got != tc.want {
			t.Errorf("got  %q\nwant %q", got, tc.want)
		}
	}
}
