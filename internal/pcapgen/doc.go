// Package pcapgen writes deterministic classic pcap captures of TCP
// conversations for rstscope's tests and benchmarks.
//
// It sits outside the pipeline: nothing in capture, flows, heuristics or
// report imports it. Tests and cmd/rstgen use it to make fixtures with exact
// header values (TTL, IP ID, DF, window, TCP timestamps, MAC, sequence
// numbers) and the large benchmark capture.
//
// A Generator owns one output. Connections (Conn) emit segments with the
// times their callers give; the Generator keeps them in a queue and writes
// them in time order (stable for equal times) on Flush or Close. Every
// header is built by hand into one reused buffer with correct IPv4 and TCP/UDP
// checksums; payload bytes past the caller's head bytes are a fixed filler
// whose checksum comes from prefix sums, so writing a full-size segment costs
// the same as writing a cut one.
//
// Buffers: payload slices passed to a Conn are kept (not copied) until the
// segment is written; callers must not modify them before Flush. Clock: only
// the times the caller passes; the package never reads the wall clock.
// Randomness (ISNs, random IP IDs, the mix) comes from one math/rand/v2 PCG
// seeded by Options.Seed, so the same calls give the same bytes.
package pcapgen
