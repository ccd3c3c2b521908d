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
// RST's sender and receiver and the frame's time. The heuristics engine
// weighs what a join says (ReasonCauses) in its one combine step.
//
// Mechanism, measured (see MEASURED below): a BPF program written with
// cilium/ebpf's asm package (no C compiler), attached to each tracepoint,
// into a 1 MiB BPF ring buffer. Nothing is hard-coded about the events:
// record layouts and reason numbers come from each event's tracefs format
// file (the pre-6.10 sport/dport/saddr[4]/saddr_v6 layout without reason is
// read too), and the kernel struct offsets the program follows come from
// the kernel's BTF.
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
// clock the kernel stamps frames with, with no conversion skew. What is
// left is where in the stack each side is stamped: see the join latency.
//
// Buffers: Read returns Events by value; nothing aliases the ring.
package kernel
