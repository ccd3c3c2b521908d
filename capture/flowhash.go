package capture

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"net/netip"
)

// flowSeed makes FlowHash differ from one process to the next, so that a
// crafted capture cannot aim all its flows at one bucket of a flow table.
var flowSeed = rand.Uint64() | 1

// Constants of the mixing (wyhash's secrets).
const (
	flowK1 = 0xa0761d6478bd642f
	flowK2 = 0xe7037ed1a0b428db
	flowK3 = 0x8ebc6af09c88c6e3
)

// FlowHash hashes the endpoints of a connection, symmetrically:
// FlowHash(a, b) == FlowHash(b, a). It is never 0. Flow tables key on it;
// it is the same for the whole process (seeded at start).
//
// Two IPv4 endpoints (nine packets in ten on a typical link) take one
// 64x64->128 multiply: each endpoint packs into 48 bits (address and
// port), the two are put in order, so that both directions agree, and
// mixed together. Anything else hashes each endpoint's 16-byte form and
// port, and adds the two (addition commutes). Decode's fast path computes
// the same from the header bytes (Decoder.hash).
func FlowHash(a, b netip.AddrPort) uint64 {
	if aa, ba := a.Addr(), b.Addr(); aa.Is4() && ba.Is4() {
		return flowHash4(endpoint4(aa, a.Port()), endpoint4(ba, b.Port()))
	}
	return flowHash16(endpointHash(a) + endpointHash(b))
}

// flowHash4 is FlowHash of two IPv4 endpoints packed by endpoint4.
func flowHash4(x, y uint64) uint64 {
	if x > y {
		x, y = y, x
	}
	return nonZero(mix(x^flowSeed, y^flowK1))
}

// flowHash16 is FlowHash of any other pair, from the sum of their
// endpointHash values.
func flowHash16(sum uint64) uint64 { return nonZero(mix(sum^flowSeed, flowK3)) }

func nonZero(h uint64) uint64 {
	if h == 0 {
		return 1
	}
	return h
}

// endpoint4 packs an IPv4 address and port into 48 bits.
func endpoint4(a netip.Addr, port uint16) uint64 {
	b := a.As4()
	return uint64(binary.BigEndian.Uint32(b[:]))<<16 | uint64(port)
}

// endpointHash hashes an endpoint by its address's 16-byte form (IPv4 as
// IPv4-mapped) and port.
func endpointHash(ap netip.AddrPort) uint64 {
	a := ap.Addr().As16()
	return endpointHash16(binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:]), ap.Port())
}

// endpointHash16 hashes an address given as its two big-endian halves, and
// a port.
func endpointHash16(hi, lo uint64, port uint16) uint64 {
	return mix(hi^flowSeed, lo^flowK1) ^ mix(uint64(port)^flowK2, flowSeed)
}

// RouteHash hashes the endpoints of a connection symmetrically, like
// FlowHash, but unseeded: it is the same in every process. It places a
// flow where the place changes what is reported - the flow-table shard
// that holds it and the tombstone bucket it shares with others - so that
// a capture gives the same report on every run. An attacker who aims many
// flows at one value of it only loads one shard or refreshes one bucket of
// tombstones; the flow maps key on the seeded FlowHash.
//
// Decode's fast path computes it from the header bytes (Decoder.route), as
// it does FlowHash, and Sources pass it on in Packet.RouteHash.
func RouteHash(a, b netip.AddrPort) uint64 {
	if aa, ba := a.Addr(), b.Addr(); aa.Is4() && ba.Is4() {
		return routeHash4(endpoint4(aa, a.Port()), endpoint4(ba, b.Port()))
	}
	return routeHash16(routeEndpoint(a) + routeEndpoint(b))
}

// routeHash4 is RouteHash of two IPv4 endpoints packed by endpoint4.
func routeHash4(x, y uint64) uint64 {
	if x > y {
		x, y = y, x
	}
	return mix(x^flowK2, y^flowK3)
}

// routeHash16 is RouteHash of any other pair, from the sum of their
// routeEndpoint values.
func routeHash16(sum uint64) uint64 { return mix(sum, flowK1) }

// routeEndpoint is endpointHash without the seed.
func routeEndpoint(ap netip.AddrPort) uint64 {
	a := ap.Addr().As16()
	return routeEndpoint16(binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:]), ap.Port())
}

// routeEndpoint16 is routeEndpoint of an address given as its two
// big-endian halves, and a port.
func routeEndpoint16(hi, lo uint64, port uint16) uint64 {
	return mix(hi^flowK3, lo^flowK1) ^ mix(uint64(port)^flowK2, flowK3)
}

// mix is a 64x64->128 multiply folded to 64 bits (wyhash's mum).
func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}
