// Package capture is the first stage of rstscope's pipeline: it reads
// link-layer frames from capture files (pcap, pcapng, gzip, zstd, stdin) or a live
// interface and turns each TCP segment into a flat Packet value for
// flows.Table. Frames that are not TCP, or do not decode, are counted in
// Stats and skipped.
//
// Decoder does the per-frame work without allocating: Ethernet (802.1Q,
// QinQ, MPLS, PPPoE), Linux SLL/SLL2, raw IP, BSD null/loop, OpenBSD pflog,
// Cisco HDLC, NFLOG, PPP and 802.11 data framing; IPv4 and IPv6 with
// extension headers, and TCP headers split over IPv4 fragments. Tunnels
// (GRE, ERSPAN, VXLAN, VXLAN-GPE, Geneve, IP-in-IP, GTP-U, AYIYA, L2TP,
// Teredo, GRE in UDP) are opened and the innermost TCP segment decoded.
// Link types are one table (linktype.go). Frames that may hide TCP in
// something not opened are counted by reason in Stats.Hidden.
//
// pcapng is read by ngRecordReader, each packet block whole in a window
// over the file and its frame returned in place, frames numbered as
// tshark numbers them (custom blocks count), block sizes and interfaces
// bounded: past a bound the input ends as a cut file does. pcapgo's
// NgReader is the tests' reference for it. PcapngWriter writes frames of
// any mix of link types.
//
// Buffers: a Source owns its read buffer. Packet.Payload and Packet.Frame
// alias it and are valid only until the next call to Next; copy what you
// keep. The caller owns the Packet and reuses it.
//
// Two cores: Prefetch runs a file Source's reading and decoding in a
// goroutine of its own, a batch of packets ahead (a ring of 8 batches of
// 512 Packets, each batch owning the frame bytes its packets alias), so
// that the caller's flow tracking has the other core. Order, packets,
// Stats and errors are exactly those of the Source. Classic pcap records
// are read in place from a 128 KiB window (pcapRecordReader), with
// pcapgo's checks and errors. PrefetchHeavy gives a reading goroutine to
// compressed inputs only: on two cores busy with flow-table shards, a
// plain pcap or pcapng file is faster read and decoded on the router's
// own goroutine (no copy of each frame, no handoff). A gzip file is inflated
// (klauspost/compress) on a goroutine of its own besides, 1 MiB ahead
// of the one that decodes it (aheadReader): the 1.2 GB bench capture
// gzipped took 7.1-7.6 s with the standard library inflating on the
// decoding goroutine, 4.6-4.8 s with klauspost's, 3.9-4.2 s read ahead.
// A zstd file (klauspost/compress/zstd, one block at a time, a window of
// at most 128 MiB) is read the same way: the bench capture as zstd -3
// (288 MB) in 2.8-3.0 s.
//
// The reading goroutine's budget (issue 17; the 1.2 GB, 10.2 M-packet
// bench capture, CPU profile of the real binary on 2 cores shared with
// other work): it cost 1.4-2.0 s (median 1.45 s of 5 runs), about 140 ns
// per packet; now 0.7-0.9 s (median 0.84 s), about 80 ns. Per packet, by
// weight: decoding, ~30 ns in the real run where it was ~90 (fastpath.go:
// Ethernet with at most one VLAN tag, SLL or SLL2, then IPv4 or IPv6 and
// TCP in one function; the general decoder is the fallback and the
// reference); the kernel's copy of the file into the window, ~20 ns
// (read(2) of 1 MiB at a time); the record framing, called directly
// rather than through frameReader and without a gopacket.CaptureInfo
// (pcapRecordReader.read); the copy of the frame into its batch, ~5 ns;
// the flow hash, a few ns from the header bytes where FlowHash on the
// netip values took 30 ns (As16 goes through memory and the 16-byte reload
// missed store forwarding; BenchmarkFlowHash); the Stats marks, kept only
// where the counters did not just move on by one packet (an 80-byte mark
// per packet cost ~10 ns).
//
// Then (the capture path alone on that file: OpenFiles, Prefetch, Follow
// and a caller that takes each packet by NextRef and reads a field on each
// of its cache lines; CPU time, user and system, median of 7 runs
// alternated with the previous build, machine loaded): 1.15 s -> 0.96 s,
// about 112 -> 94 ns per frame, of which the kernel's copy is about 30 ns.
// The instructions of the reading goroutine's functions fell by a fifth
// (cachegrind on BenchmarkPrefetch_mix/read, the number that load on the
// machine does not move): a record whole in the window that the fast path
// decodes goes through nextPcap (no pending frame, interface, filter or
// error path to pass) and fill is not called; fileSource calls the fast
// path directly, not through Decode; the fast path writes no decoder state
// but the hash; the record header's four fields come from two loads. On
// the caller's side, Follow's NextRef over a prefetcher takes the next
// packet of the batch and counts it for the progress line inline: two
// calls less per packet on the core that bounds the wall time
// (followFile.NextRef and what it calls, 0.05-0.17 s -> 0.03-0.07 s of a
// profile).
//
// Weighed and left: mmap of regular files would save the kernel's copy,
// but a file cut while mapped faults (SIGBUS) instead of ending as a cut
// file does, and mapped pages count in RSS unless unmapped behind the
// reader (mapping the bench capture saved 1.5% of the wall time with two
// shards). debug.SetPanicOnFault turns such a fault into a panic on the
// goroutine that reads, but the mapped bytes are read outside this
// package too (a Sharded router copies each payload into a shard batch),
// so the recovery would have to sit in the caller's loop, after a batch
// half written. A window larger than 1 MiB saves nothing measurable. The
// window is 128 KiB (pcapWindow): with one table behind a prefetcher, 64
// or 256 KiB measured as 1 MiB did, but where the reader is the flow
// shards' router, on the critical path, the smaller reads were 3-4%
// faster (frames decoded while still in the core's cache; 64 KiB, in
// session 8's paired rounds, as fast as 128). Parsing TCP options lazily
// would change Packet (the fast path reads NOP NOP timestamps, most
// segments' options, without the walk); lending the caller a pointer into
// the batch instead of copying the 256-byte Packet would save at most the
// copy, ~7 ns per packet on the caller's side, for a second way to read a
// Source. Reading the file straight into the batches' buffers, so that
// frames are not copied from the window: decoding in place from the window
// (the copy left out, output wrong) saved 0.03 s of 1.2 s, within the
// noise, for a buffer shared by batches and its lifetime. Splitting the
// fast path into an IPv4 and an IPv6 function (fewer registers spilled)
// gave the same instruction count and no faster BenchmarkDecode.
//
// Where the wall time goes: the flow table's goroutine (the caller), not
// this one, bounds it on that file. The reader waits for free batches
// (about 3 s of a 5 s run under load; 4,000 waits), the caller for full
// ones 0.1-0.2 s (when the reader was descheduled). So the caller gives
// batches back four at a time: a send to a waiting reader wakes it (a
// futex call on the caller's core), and one wake-up now serves four
// batches (37.5 k context switches per run before, 23 k after).
// BenchmarkDecode, BenchmarkFileSource and BenchmarkPrefetch report
// allocations: none per packet.
//
// Writing (-w): ExportWriter writes pcap (or pcapng for several link
// types); Rotator starts new files as tcpdump's -C/-W/-G do; Recorder, the
// live -w, holds each flow's recent frames (copies, within a memory bound)
// and writes a flow's frames when told it has a finding.
//
// Clock: Packet.Time is the capture timestamp (UTC) from the file or the
// kernel. The package never reads the wall clock for packet handling; the
// exceptions are a live Source's Clock, and Follow's for a pipe carrying a
// live feed (tcpdump -w - -U), which carry packet time on through a silence
// (see ErrTimeout) with the monotonic time elapsed since the last frame.
// Rotator's -G periods and Recorder's hold run on packet time; only the
// first -G file's name takes the time the caller gives.
//
// Stopping: Follow wraps any Source so that closing a stop channel (a
// signal, --duration) ends it with io.EOF wherever it waits: a live handle
// is closed, a pipe is read by a goroutine of its own, a file ends before
// its next packet. Interruptible does the same for an open that blocks (a
// FIFO waiting for its other end).
//
// Outputs: Exporter writes -w (pcap, or pcapng for several link types):
// every packet, or at Close the flows marked with findings, read again
// from regular input files or from a spool unlinked at creation. Recorder
// writes a live -w as findings come, each flow's held packets, bounded in
// memory, to rotated files (Rotator) or to one stream (NewStreamRotator:
// live -w -). Output files are opened write-only (CreateOutput) and a
// regular file that could not be completed is removed.
package capture
