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
// says to heuristics.Engine.Judge, which weighs it in its one combine step
// (the origin today; ReasonCauses, the reason -> cause table, is the data
// for the cause).
//
// Mechanism: a BPF program written with cilium/ebpf's asm package (no C
// compiler), attached to each tracepoint, writing into a 1 MiB BPF ring
// buffer. Nothing about the events is hard-coded: record layouts and reason
// numbers come from each event's tracefs format file (the pre-6.10
// sport/dport/saddr[4]/saddr_v6 layout without reason is read too), and the
// kernel struct offsets the program follows come from the kernel's BTF.
// Opening needs CAP_BPF and CAP_PERFMON (or root) and tracefs, which Open
// mounts at /sys/kernel/tracing when it is absent.
//
// Why BPF rather than perf_event_open (golang.org/x/sys/unix, per-CPU mmap
// rings, same format files), measured on Linux 6.18, 2 vCPUs, with
// BenchmarkFlood and BenchmarkLatency (`make kernel-bench`, 3 runs each):
//   - only the program can see what the join needs: the network namespace of
//     each event (tracepoints fire for every namespace, and the records do
//     not say which), and the addresses of a dropped RST (kfree_skb's record
//     has none; the program reads the skb's IP and TCP headers); and it
//     filters kfree_skb and foreign namespaces before they cost ring space;
//   - a 40,000-RST flood (SYNs from a raw socket to a closed port in a
//     namespace pair): BPF read 40,000 of 40,000 in every run, 0 lost;
//     perf with 8-page rings lost 4,634 in one of four runs, and with a
//     wake-up per event the flood took 1,170-1,700 ms of CPU against
//     303-315 ms without tracing;
//   - CPU: with BPF 368-382 ms for the same flood (+60-75 ms, about 1.7 us
//     per RST all included: three program runs per RST, send_reset plus two
//     kfree_skb that the reason filter rejects, 158-261 ns each, and the Go
//     reader). That is with the program waking the reader only when a
//     quarter of the ring waits (BPF_RB_NO_WAKEUP below that; Read polls
//     every 10 ms): with the ring's default wake-up per event the program
//     took ~1,300 ns a run and the flood 600-750 ms, the IPIs of the wake-ups
//     dominating on this VM;
//   - latency from the event to Read: 4.6 ms p50, 9-15 ms p99 (the 10 ms
//     poll); 27 us p50 with a wake-up per event, perf 40-43 us p50. The
//     engine holds each RST for a 2 s look-ahead, so CPU under a flood
//     was chosen over latency.
//
// Without RSTs the cost is the kfree_skb program rejecting other drops by
// their reason (a handful of instructions per freed-on-drop skb) and Read's
// 10 ms poll.
//
// Join latency (TestLab, veth pair, capture on one end, event time minus
// frame time): send_reset -56 us..+37 us (p50 -12 us: a NO_SOCKET or
// TCP_STATE RST is traced before it reaches the capture), receive_reset
// +4..+47 us, dropped +8..+12 us. DefaultTolerance (5 ms) is far wider; the
// tuple must match exactly.
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
