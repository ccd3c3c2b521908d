// Command c2c measures how long a cache line takes to go from one core to
// another and back: two goroutines, each locked to its own thread, hand a
// counter back and forth. `make bench` prints it beside the speed ratios,
// because rstscope's reader hands every packet's lines to a shard on the
// other core: on a machine (or a VM placement) whose two cores share no
// cache the round trip costs several times more, and so does the pipeline
// (README, Performance), while the single-core floor does not notice.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"sync/atomic"
	"time"
)

func main() {
	trips := flag.Int("n", 200000, "round trips a measurement")
	reps := flag.Int("r", 5, "measurements (the median is printed)")
	flag.Parse()
	if runtime.NumCPU() < 2 {
		fmt.Println("c2c: one CPU, nothing to measure")
		return
	}
	runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0), 2))
	var ns []float64
	for range *reps {
		ns = append(ns, roundTrip(*trips))
	}
	sort.Float64s(ns)
	fmt.Printf("%.0f\n", ns[len(ns)/2])
	if ns[len(ns)/2] <= 0 {
		os.Exit(1)
	}
}

// roundTrip gives the ns of one round trip of a cache line between the
// threads of two goroutines, each spinning on its own half of the count.
func roundTrip(n int) float64 {
	var v atomic.Int64
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		for i := int64(1); i < 2*int64(n); i += 2 {
			for v.Load() != i {
			}
			v.Store(i + 1)
		}
		close(done)
	}()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := time.Now()
	for i := int64(0); i < 2*int64(n); i += 2 {
		for v.Load() != i {
		}
		v.Store(i + 1)
	}
	<-done
	return float64(time.Since(start).Nanoseconds()) / float64(n)
}
