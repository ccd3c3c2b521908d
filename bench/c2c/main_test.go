package main

import (
	"runtime"
	"testing"
)

// TestRoundTrip: the two goroutines hand the line back and forth to the
// end (the call returns) and the time per round trip is positive. The
// bound is loose: on a loaded machine the two threads may take turns on
// one CPU (a time slice a trip).
func TestRoundTrip(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("one CPU")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	ns := roundTrip(200)
	if ns <= 0 || ns > 1e8 {
		t.Fatalf("round trip %v ns", ns)
	}
}
