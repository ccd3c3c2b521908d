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

// FlowHash hashes the endpoints of a connection, symmetrically:
// FlowHash(a, b) == FlowHash(b, a). It is never 0. Flow tables key on it;
// it is the same for the whole process (seeded at start).
func FlowHash(a, b netip.AddrPort) uint64 {
	h := endpointHash(a) + endpointHash(b) // + commutes: both directions agree
	h = mix(h^flowSeed, 0x8ebc6af09c88c6e3)
	if h == 0 {
		h = 1
	}
	return h
}

func endpointHash(ap netip.AddrPort) uint64 {
	a := ap.Addr().As16()
	hi, lo := binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:])
	return mix(hi^flowSeed, lo^0xa0761d6478bd642f) ^ mix(uint64(ap.Port())^0xe7037ed1a0b428db, flowSeed)
}

// mix is a 64x64->128 multiply folded to 64 bits (wyhash's mum).
func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}
