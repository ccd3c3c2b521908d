package kernel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Kind says which tracepoint an Event came from.
type Kind uint8

const (
	KindUnknown      Kind = iota
	KindSendReset         // tcp:tcp_send_reset: this host's TCP stack sent the RST
	KindReceiveReset      // tcp:tcp_receive_reset: a received RST reset a socket
	KindDropped           // skb:kfree_skb TCP_OLD_SEQUENCE/TCP_INVALID_SEQUENCE: the stack dropped the RST
)

var kindNames = [...]string{"unknown", "send_reset", "receive_reset", "dropped"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Tracepoint names the event's tracepoint ("tcp_send_reset"), the
// finding's kernel.event.
func (k Kind) Tracepoint() string {
	switch k {
	case KindSendReset:
		return "tcp_send_reset"
	case KindReceiveReset:
		return "tcp_receive_reset"
	case KindDropped:
		return "kfree_skb"
	}
	return ""
}

// MarshalText gives the name used in NDJSON and the finding's kernel.event.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText accepts the names String gives.
func (k *Kind) UnmarshalText(b []byte) error {
	for i, n := range kindNames {
		if i > 0 && n == string(b) {
			*k = Kind(i)
			return nil
		}
	}
	return fmt.Errorf("unknown event kind %q", b)
}

// Event is the kernel's account of one RST, oriented like the packet:
// Sender sent the RST to Receiver, whichever of them is this host.
type Event struct {
	Kind     Kind
	Time     time.Time // wall clock (CLOCK_REALTIME), UTC; see doc.go for the conversion
	Sender   netip.AddrPort
	Receiver netip.AddrPort
	// State is the socket's TCP state as the kernel names it
	// ("TCP_ESTABLISHED"), "UNKNOWN" when no socket sent it (NO_SOCKET);
	// empty for dropped RSTs.
	State string
	// Reason is the sk_rst_reason name for send_reset ("NO_SOCKET"), the
	// skb_drop_reason name for dropped ("TCP_OLD_SEQUENCE"), empty for
	// receive_reset and on kernels before 6.10.
	Reason string
	NetNS  uint32 // network namespace inode (as in /proc/PID/ns/net); 0 unknown
	Cookie uint64 // socket cookie (receive_reset on kernels that give it)
}

// tcpStates are the numbers of include/net/tcp_states.h, the same since
// Linux 2.x (they are the st column of /proc/net/tcp). The format files
// name them by C macro, so they cannot be read from there.
var tcpStates = [...]string{"UNKNOWN", "TCP_ESTABLISHED", "TCP_SYN_SENT", "TCP_SYN_RECV",
	"TCP_FIN_WAIT1", "TCP_FIN_WAIT2", "TCP_TIME_WAIT", "TCP_CLOSE", "TCP_CLOSE_WAIT",
	"TCP_LAST_ACK", "TCP_LISTEN", "TCP_CLOSING", "TCP_NEW_SYN_RECV", "TCP_BOUND_INACTIVE"}

func stateName(n int32) string {
	if n >= 0 && int(n) < len(tcpStates) {
		return tcpStates[n]
	}
	return fmt.Sprintf("state(%d)", n)
}

// Ring record written by the BPF program, little-endian host order:
//
//	0  u64 bpf_ktime_get_tai_ns()
//	8  u32 Kind
//	12 u32 netns inode
//	16 the trace record (its format file gives the layout and size)
//	dropped only, at pktOff: 40 bytes from the skb's network header, 20
//	from its transport header
//
// A record is recordSize(kind, f) bytes.
const (
	rawMax   = 128
	pktOff   = 16 + rawMax
	ringSize = 2 << 20 // about 20,000 send_reset records
)

// recordSize is the ring record's size for an event of kind with format f.
func recordSize(kind Kind, f *Format) int {
	if kind == KindDropped {
		return pktOff + 64
	}
	return (16 + f.Size() + 7) &^ 7
}

// decodeRecord decodes one ring record with the decoders (by Kind); it
// returns the event (Time unset) and its CLOCK_TAI stamp in ns.
func decodeRecord(decoders *[4]*decoder, b []byte) (Event, int64, error) {
	if len(b) < 16 {
		return Event{}, 0, fmt.Errorf("kernel: ring record of %d bytes", len(b))
	}
	kind := Kind(binary.NativeEndian.Uint32(b[8:12]))
	if int(kind) >= len(decoders) || decoders[kind] == nil {
		return Event{}, 0, fmt.Errorf("kernel: ring record of unknown kind %d", kind)
	}
	d := decoders[kind]
	if n := recordSize(kind, d.f); len(b) < n {
		return Event{}, 0, fmt.Errorf("kernel: %s ring record of %d bytes, want %d", kind, len(b), n)
	}
	var pkt []byte
	if kind == KindDropped {
		pkt = b[pktOff : pktOff+60]
	}
	e, err := d.decode(b[16:], pkt)
	if err != nil {
		return e, 0, err
	}
	e.NetNS = binary.NativeEndian.Uint32(b[12:16])
	return e, int64(binary.NativeEndian.Uint64(b[0:8])), nil
}

// errNotRST marks a dropped segment that was not an RST (an out-of-window
// data segment is dropped with the same reasons).
var errNotRST = errors.New("kernel: dropped segment is not an RST")

// decoder turns one raw record of an event into an Event, with the field
// offsets of that event's format file.
type decoder struct {
	kind Kind
	f    *Format
	// sockaddr is the 6.10+ send_reset layout: saddr/daddr are a
	// struct sockaddr_in or sockaddr_in6 of 28 bytes each.
	sockaddr bool
}

func newDecoder(kind Kind, f *Format) (*decoder, error) {
	d := &decoder{kind: kind, f: f}
	need := []string{}
	switch kind {
	case KindSendReset, KindReceiveReset:
		if s, ok := f.Field("saddr"); ok && s.Size == 28 {
			d.sockaddr = true
			need = append(need, "daddr")
		} else {
			need = append(need, "sport", "dport")
			if _, ok := f.Field("family"); ok {
				need = append(need, "saddr", "daddr")
			}
			need = append(need, "saddr_v6", "daddr_v6")
		}
	case KindDropped:
		need = append(need, "reason")
	}
	for _, n := range need {
		if _, ok := f.Field(n); !ok {
			return nil, fmt.Errorf("kernel: %s: no field %q in this kernel's layout", f.Name, n)
		}
	}
	return d, nil
}

func (d *decoder) bytes(raw []byte, name string) []byte {
	fl, ok := d.f.Field(name)
	if !ok || fl.Offset+fl.Size > len(raw) {
		return nil
	}
	return raw[fl.Offset : fl.Offset+fl.Size]
}

func (d *decoder) uint(raw []byte, name string) (uint64, bool) {
	b := d.bytes(raw, name)
	switch len(b) {
	case 1:
		return uint64(b[0]), true
	case 2:
		return uint64(binary.NativeEndian.Uint16(b)), true
	case 4:
		return uint64(binary.NativeEndian.Uint32(b)), true
	case 8:
		return binary.NativeEndian.Uint64(b), true
	}
	return 0, false
}

// decode reads raw (the record, common header included); pkt holds the
// dropped segment's IP header (40 bytes) and TCP header (20 bytes).
func (d *decoder) decode(raw, pkt []byte) (Event, error) {
	if len(raw) < d.f.Size() {
		return Event{}, fmt.Errorf("kernel: %s: record of %d bytes, layout needs %d", d.f.Name, len(raw), d.f.Size())
	}
	e := Event{Kind: d.kind}
	if v, ok := d.uint(raw, "state"); ok {
		e.State = stateName(int32(uint32(v)))
	}
	if v, ok := d.uint(raw, "reason"); ok {
		if n, ok := d.f.Symbols["reason"][v]; ok {
			e.Reason = n
		} else {
			e.Reason = fmt.Sprintf("reason(%d)", v)
		}
	}
	if v, ok := d.uint(raw, "sock_cookie"); ok {
		e.Cookie = v
	}
	var local, remote netip.AddrPort
	switch d.kind {
	case KindDropped:
		s, r, err := segmentTuple(pkt)
		if err != nil {
			return e, err
		}
		e.Sender, e.Receiver = s, r
		return e, nil
	case KindSendReset, KindReceiveReset:
		if d.sockaddr {
			local = sockaddr(d.bytes(raw, "saddr"))
			remote = sockaddr(d.bytes(raw, "daddr"))
		} else {
			local, remote = d.oldTuple(raw)
		}
	}
	if !local.IsValid() || !remote.IsValid() {
		return e, fmt.Errorf("kernel: %s: record without a usable address", d.f.Name)
	}
	// saddr is always this host's socket: the sender of a sent RST, the
	// receiver of a received one.
	if d.kind == KindSendReset {
		e.Sender, e.Receiver = local, remote
	} else {
		e.Sender, e.Receiver = remote, local
	}
	return e, nil
}

// oldTuple reads the sport/dport/family/saddr[4]/saddr_v6 layout (send_reset
// before 6.10, receive_reset still on 6.18). Ports are in host order. For
// AF_INET6 only the _v6 fields hold the address; without a family field
// (before 5.x) the _v6 fields hold IPv4 as v4-mapped.
func (d *decoder) oldTuple(raw []byte) (local, remote netip.AddrPort) {
	sp, _ := d.uint(raw, "sport")
	dp, _ := d.uint(raw, "dport")
	fam, hasFam := d.uint(raw, "family")
	var sa, da netip.Addr
	if hasFam && fam == 2 {
		sa, _ = netip.AddrFromSlice(d.bytes(raw, "saddr"))
		da, _ = netip.AddrFromSlice(d.bytes(raw, "daddr"))
	} else {
		sa, _ = netip.AddrFromSlice(d.bytes(raw, "saddr_v6"))
		da, _ = netip.AddrFromSlice(d.bytes(raw, "daddr_v6"))
	}
	return netip.AddrPortFrom(sa.Unmap(), uint16(sp)), netip.AddrPortFrom(da.Unmap(), uint16(dp))
}

// sockaddr reads a struct sockaddr_in or sockaddr_in6 as the kernel stores it
// (family in host order, port in network order).
func sockaddr(b []byte) netip.AddrPort {
	if len(b) < 24 {
		return netip.AddrPort{}
	}
	port := binary.BigEndian.Uint16(b[2:4])
	switch binary.NativeEndian.Uint16(b[0:2]) {
	case 2: // AF_INET
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), port)
	case 10: // AF_INET6
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[8:24])).Unmap(), port)
	}
	return netip.AddrPort{}
}

// segmentTuple reads the sender and receiver of a dropped segment from its IP
// and TCP headers (pkt: 40 bytes from the network header, 20 from the
// transport header) and checks that it is an RST.
func segmentTuple(pkt []byte) (sender, receiver netip.AddrPort, err error) {
	if len(pkt) < 60 {
		return sender, receiver, fmt.Errorf("kernel: dropped segment: %d header bytes, want 60", len(pkt))
	}
	ip, tcp := pkt[:40], pkt[40:60]
	var sa, da netip.Addr
	switch ip[0] >> 4 {
	case 4:
		sa = netip.AddrFrom4([4]byte(ip[12:16]))
		da = netip.AddrFrom4([4]byte(ip[16:20]))
	case 6:
		sa = netip.AddrFrom16([16]byte(ip[8:24]))
		da = netip.AddrFrom16([16]byte(ip[24:40]))
	default:
		return sender, receiver, fmt.Errorf("kernel: dropped segment: IP version %d", ip[0]>>4)
	}
	if tcp[13]&0x04 == 0 {
		return sender, receiver, errNotRST
	}
	sender = netip.AddrPortFrom(sa, binary.BigEndian.Uint16(tcp[0:2]))
	receiver = netip.AddrPortFrom(da, binary.BigEndian.Uint16(tcp[2:4]))
	return sender, receiver, nil
}
