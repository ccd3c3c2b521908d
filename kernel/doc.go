// Package kernel gives rstscope the host kernel's own account of each RST:
// the tracepoints tcp:tcp_send_reset (this host's TCP stack sent an RST, with
// the socket's state and, since Linux 6.10, the reason), tcp:tcp_receive_reset
// (a received RST reset a socket) and skb:kfree_skb restricted to the drop
// reasons TCP_OLD_SEQUENCE and TCP_INVALID_SEQUENCE (the stack dropped an RST
// outside the window: an ignored RST).
//
// Stage: beside the pipeline. A Tracer reads events live while capture reads
// frames; a Writer records them as NDJSON (--kernel-events) and a Reader reads
// them back for a later -r run; an Index joins them with RST frames by the
// RST's sender and receiver and the frame's time; a Witness hands what a join
// says to heuristics.Engine.Judge, which weighs it in its one combine step:
// the origin, and the cause through ReasonCauses, the reason -> cause table
// (packet context chooses among the variants a reason allows).
//
// Mechanism: a BPF program written with cilium/ebpf's asm package (no C
// compiler), attached to each tracepoint, writing into a 2 MiB BPF ring
// buffer. Nothing about the events is hard-coded: record layouts and reason
// numbers come from each event's tracefs format file (the pre-6.10
// sport/dport/saddr[4]/saddr_v6 layout without reason is read too), and the
// kernel struct offsets the program follows come from the kernel's BTF.
// Opening needs CAP_BPF and CAP_PERFMON (or root) and tracefs, which Open
// mounts at /sys/kernel/tracing when it is absent.
//
// Why BPF rather than perf_event_open (golang.org/x/sys/unix, per-CPU mmap
// rings, same format files), measured on Linux 6.18, 2 vCPUs shared with
// other builds (load average 13-16), with BenchmarkFlood, BenchmarkLatency
// and BenchmarkIdle (`make kernel-bench`, 3 runs each):
//   - only the program can see what the join needs: the network namespace of
//     each event (tracepoints fire for every namespace, and the records do
//     not say which), and the addresses of a dropped RST (kfree_skb's record
//     has none; the program reads the skb's IP and TCP headers); and it
//     filters kfree_skb and foreign namespaces before they cost ring space;
//   - a 40,000-RST flood (SYNs from a raw socket to a closed port in a
//     namespace pair): BPF read 40,000 of 40,000, 0 lost, in 9 of 9 runs
//     (one earlier run, while the machine was busiest, with a 1 MiB ring of
//     fixed 208-byte records, lost 2,223: hence 2 MiB and records sized per
//     event); perf with 8-page rings lost 2,017-6,345 in
//     3 of 3 runs, with 64 pages none;
//   - CPU for that flood (the process, sender included): 288-294 ms without
//     tracing, 320-430 ms with BPF (three program runs per RST: send_reset
//     and two kfree_skb the reason filter rejects, 139-179 ns each), perf
//     1,216-1,796 ms: perf wakes its reader for every event, and on this VM
//     each wake-up is an IPI. The BPF ring wakes its reader only for a record
//     written once the reader has read everything, which a fast reader
//     always has: read at once, BPF cost ~1,300 ns a run and the flood
//     600-750 ms. So Read waits `gather` (5 ms) after each wake-up: two
//     wake-ups per 5 ms instead of one per RST. An idle Tracer costs
//     0.1-0.5 ms of CPU a second (a 10 ms poll instead cost 5-7 ms);
//   - latency from the event to Read (p50, the p99s are this busy machine's
//     scheduling): RSTs 20 ms apart come at once, 64-70 us (perf 69-77 us);
//     RSTs 2 ms apart wait out the gather, 1.1 ms (perf 48-55 us). The
//     engine holds each RST for a 2 s look-ahead, so a few ms are free and
//     CPU under a flood is not.
//
// Join latency (TestLab, veth pair, capture on one end, event time minus
// frame time): send_reset -56 us..+37 us (p50 -12 us: a NO_SOCKET or
// TCP_STATE RST is traced before it reaches the capture), receive_reset
// +4..+47 us, dropped +8..+12 us. DefaultTolerance (5 ms) is far wider; the
// tuple must match exactly, except for a listening socket's RST (an ACK or
// FIN for a connection it no longer has), which the kernel traces with the
// listener's tuple (no receiver, state TCP_LISTEN, reason TCP_FLAGS on
// 6.18): it joins by the sender's port (Index).
//
// Network namespaces: the tracepoints fire for every namespace. The program
// reads the namespace inode of each event (sock.skc_net, else the skb's
// device's nd_net; the number /proc/PID/ns/net shows) and keeps only the
// namespaces asked for, before the event takes room in the ring.
//
// Clock: the program stamps events with bpf_ktime_get_tai_ns. The kernel
// keeps CLOCK_TAI = CLOCK_REALTIME + tai_offset, a whole number of seconds
// moved together by any step of the clock, so the Tracer converts with that
// offset (measured, rounded to the second, re-measured every 10 s to follow
// a leap-second change): event times are on the capture's wall clock, the
// clock the kernel stamps frames with, with no conversion skew
// (TestWallClock: a conversion and a realtime read next to it differ by
// ~300 ns, the reading gap). What is left is where in the stack each side
// is stamped: see the join latency. Before 6.1 (no bpf_ktime_get_tai_ns)
// events are stamped with CLOCK_MONOTONIC and converted with an offset
// re-measured every 10 s: a residual skew of half the measuring bracket
// (sub-microsecond) plus what NTP slews between measurements (at most 5 ms
// in 10 s, usually microseconds).
//
// Buffers: Read returns Events by value; nothing aliases the ring.
package kernel
