// Package metrics serves rstscope's Prometheus metrics (--metrics ADDR):
// resets explained by cause, origin and confidence, and the pipeline's
// counters (packets, flows, RST packets, drops, flows dropped at
// --max-flows, findings filtered), the kernel's account when it is on
// (rstscope_kernel_events_total{event}, _events_lost_total, _rsts_total,
// _rsts_joined_total; absent, not 0, without it), with the Go runtime's and the process's
// own (RSS, open files) for long runs. With Options.Profiling (--pprof)
// the same listener serves Go's runtime profiles at /debug/pprof/, to see
// where a long-running sensor's memory goes.
//
// It sits beside the pipeline, not in it: main feeds it plain values
// (strings, a Snapshot), so it imports none of rstscope's packages.
// Labels are bounded (cause, origin, confidence, where, event): never
// addresses or ports.
//
// Concurrency: Reset and Update are called by the pipeline's goroutine, the
// scrape runs on the HTTP server's; the counters are safe for both. Clock:
// none; a scrape reads the last Snapshot given.
package metrics
