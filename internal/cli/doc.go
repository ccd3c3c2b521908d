// Package cli is the command's parts that are not wiring: the command
// line (Config, Parse, the usage text, the checks that make a usage
// error, --explain), how a Config opens its input and chooses its -w
// writer, the host kernel's account of the RSTs (--kernel-reasons,
// --kernel-events: Kernel, a witness for the engine), the always-on
// sensor's metrics, rotation and SIGUSR1 summary, and the run's summary (report.Stats and the end-of-run warnings) from
// the stages' counters. Package main wires the stages with it.
//
// It runs on the caller's goroutine, except the sensor's metrics server
// and SIGUSR1 handler, and the kernel's event pump (into a locked Index). It reads no clock but the sensor's (rotation).
package cli
