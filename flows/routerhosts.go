package flows

import (
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"unsafe"

	"github.com/rstscope/rstscope/capture"
)

// routerHosts holds the host profiles of a Sharded's reader, which updates
// the sender's with every non-RST packet of the capture. An IPv4 host's
// address and per-packet statistics (TTL, IP ID) share one 64-byte line
// of an open-addressing table, so that a packet's update reads and writes
// one cache line; its other fields (flow counts, MAC) lie in a parallel
// array that only flow starts and snapshots touch. Other hosts (IPv6, and
// IPv4-mapped IPv6 addresses, which are hosts of their own as netip.Addr
// keys are) go to a hostIndex.
//
// Why not the hostIndex alone, as a Table: a table reaches a flow's hosts
// through the flow (entry.hosts) and never looks them up per packet; the
// reader has no flows and looks the sender up with every packet. The
// capture streams through the reader's core between two packets of one
// host (on the bench capture, 5,570 hosts: megabytes of frames and shard
// batches), so each lookup missed the cache: in the slot, then in the
// profile (two lines; getOrAdd and the update were 14-15% of the
// process's CPU samples). Lines do not stay put when the table grows (the
// reader keeps no pointer to them past a packet), unlike hostIndex's
// cells, to which flows keep pointers.
type routerHosts struct {
	lines []hostLine // len a power of two (or 0), at most half used
	cold  []hostCold // cold[i] goes with lines[i]
	n4    int        // IPv4 hosts held
	v6    hostIndex
	seed  uint64
}

// hostLine is one IPv4 host's line (used) or an empty one.
type hostLine struct {
	addr   uint32 // the IPv4 address, big-endian value
	used   bool
	hasMAC bool
	ttl    TTLStats
	ipid   IPIDStats
}

// hostCold is the rest of an IPv4 host's profile.
type hostCold struct {
	mac      [6]byte
	ttlFlows uint32
	flows    uint32
}

// hostLineSize: a line is one cache line (TestRouterHosts_line).
const hostLineSize = unsafe.Sizeof(hostLine{})

// len gives the hosts held.
func (r *routerHosts) len() int { return r.n4 + r.v6.len() }

// slot4 gives the line of the IPv4 address a (the used line holding it,
// or the empty line where it would go) and whether a is there. There must
// be lines (grow made them, and the seed).
func (r *routerHosts) slot4(a uint32) (int, bool) {
	hi, lo := bits.Mul64(uint64(a)^r.seed, 0xa0761d6478bd642f)
	mask := len(r.lines) - 1
	for i := int(hi^lo) & mask; ; i = (i + 1) & mask {
		l := &r.lines[i]
		if !l.used {
			return i, false
		}
		if l.addr == a {
			return i, true
		}
	}
}

// line4 gives the line of IPv4 host a, adding it when it is new and fewer
// than max hosts are held; -1 when the table is full.
func (r *routerHosts) line4(a uint32, max int) int {
	if len(r.lines) > 0 {
		i, ok := r.slot4(a)
		if ok {
			return i
		}
		if r.len() >= max {
			return -1
		}
		if 2*(r.n4+1) <= len(r.lines) {
			return r.put4(i, a)
		}
	} else if max <= 0 || r.len() >= max {
		return -1
	}
	r.grow()
	i, _ := r.slot4(a)
	return r.put4(i, a)
}

func (r *routerHosts) put4(i int, a uint32) int {
	r.lines[i] = hostLine{addr: a, used: true}
	r.cold[i] = hostCold{}
	r.n4++
	return i
}

// grow doubles the lines (the first time: 1,024) and places every host
// again.
func (r *routerHosts) grow() {
	if r.seed == 0 {
		r.seed = rand.Uint64() | 1
	}
	old, oldCold := r.lines, r.cold
	n := max(2*len(old), 1024)
	r.lines, r.cold = make([]hostLine, n), make([]hostCold, n)
	for i := range old {
		if old[i].used {
			j, _ := r.slot4(old[i].addr)
			r.lines[j], r.cold[j] = old[i], oldCold[i]
		}
	}
}

// packet updates the profile of p's sender (p a non-RST packet: its TTL,
// IP ID and link-layer source), creating it while fewer than max hosts
// are held; macHosts counts the hosts first seen from each MAC. It takes
// the packet, not its fields: a call with the address, TTL, IP ID and MAC
// as arguments cost 20 instructions a packet to set up.
func (r *routerHosts) packet(p *capture.Packet, max int, macHosts map[[6]byte]uint32) {
	a := p.Src.Addr()
	if k, ok := capture.AddrV4(a); ok {
		// A known host is found here; line4 (which looks again) adds a
		// new one.
		i, known := 0, false
		if len(r.lines) > 0 {
			i, known = r.slot4(k)
		}
		if !known {
			if i = r.line4(k, max); i < 0 {
				return
			}
		}
		l := &r.lines[i]
		l.ttl.Add(p.TTL)
		l.ipid.Add(p.IPID)
		if !l.hasMAC && p.HasMAC {
			l.hasMAC, r.cold[i].mac = true, p.SrcMAC
			macHosts[p.SrcMAC]++
		}
		return
	}
	h := r.v6.getOrAdd(a, max-r.n4)
	if h == nil {
		return
	}
	h.TTL.Add(p.TTL)
	firstMAC(h, p.HasMAC, p.SrcMAC, macHosts)
}

// countFlow counts a flow of host a in its Flows, or (ttlFlow) a flow in
// which it sent a non-RST packet in its TTLFlows, creating the host while
// fewer than max are held.
func (r *routerHosts) countFlow(a netip.Addr, max int, ttlFlow bool) {
	if k, ok := capture.AddrV4(a); ok {
		if i := r.line4(k, max); i >= 0 {
			if ttlFlow {
				r.cold[i].ttlFlows++
			} else {
				r.cold[i].flows++
			}
		}
		return
	}
	if h := r.v6.getOrAdd(a, max-r.n4); h != nil {
		if ttlFlow {
			h.TTLFlows++
		} else {
			h.Flows++
		}
	}
}

// profile gives the profile of host a (the zero HostProfile, Known false,
// when it has none).
func (r *routerHosts) profile(a netip.Addr) HostProfile {
	if k, ok := capture.AddrV4(a); ok {
		if r.n4 == 0 {
			return HostProfile{}
		}
		i, found := r.slot4(k)
		if !found {
			return HostProfile{}
		}
		l, c := &r.lines[i], &r.cold[i]
		return HostProfile{Known: true, HasMAC: l.hasMAC, TTL: l.ttl, IPID: l.ipid.settled(),
			TTLFlows: c.ttlFlows, MAC: c.mac, Flows: c.flows}
	}
	if h := r.v6.get(a); h != nil {
		return h.settled()
	}
	return HostProfile{}
}
