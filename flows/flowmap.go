package flows

import (
	"math/bits"
	"math/rand/v2"
	"net/netip"
)

// tuple is a flow's endpoints in a compact, canonical form: both addresses
// as 16 bytes (IPv4 as v4-mapped: Packet addresses are unmapped, so the
// form is one to one), the lower endpoint first. It is the flow table's
// key: cheaper to hash and compare than Key's two netip.AddrPort.
type tuple struct {
	a0, a1, b0, b1 uint64 // addresses, big-endian halves
	pa, pb         uint16 // ports
}

// equal compares field by field (cheaper than the generic comparison).
func (t *tuple) equal(o *tuple) bool {
	return t.a0 == o.a0 && t.a1 == o.a1 && t.b0 == o.b0 && t.b1 == o.b1 && t.pa == o.pa && t.pb == o.pb
}

// tupleOf gives the canonical tuple of a packet's endpoints.
func tupleOf(src, dst netip.AddrPort) tuple {
	s, d := src.Addr().As16(), dst.Addr().As16()
	s0, s1 := be64(s[:8]), be64(s[8:])
	d0, d1 := be64(d[:8]), be64(d[8:])
	sp, dp := src.Port(), dst.Port()
	if s0 < d0 || s0 == d0 && (s1 < d1 || s1 == d1 && sp <= dp) {
		return tuple{s0, s1, d0, d1, sp, dp}
	}
	return tuple{d0, d1, s0, s1, dp, sp}
}

func be64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[7]) | uint64(b[6])<<8 | uint64(b[5])<<16 | uint64(b[4])<<24 |
		uint64(b[3])<<32 | uint64(b[2])<<40 | uint64(b[1])<<48 | uint64(b[0])<<56
}

// mix is a 64x64->128 multiply folded to 64 bits (wyhash's mum).
func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// hash hashes t with the table's seed.
func (t *tuple) hash(seed uint64) uint64 {
	h := mix(t.a0^seed, t.a1^0xa0761d6478bd642f)
	h ^= mix(t.b0^0xe7037ed1a0b428db, t.b1^seed)
	return mix(h^(uint64(t.pa)<<16|uint64(t.pb)), 0x8ebc6af09c88c6e3^seed)
}

// flowMap is an open-addressing hash table (linear probing, backward-shift
// deletion) from tuple to entry. Each slot keeps the hash next to the
// entry pointer, so a probe compares the entry's tuple only on a full hash
// match. It grows when three quarters full, never shrinks: its size follows
// the most flows held at once.
type flowMap struct {
	slots []mapSlot // len is a power of two
	n     int
	seed  uint64
}

type mapSlot struct {
	hash uint64
	e    *entry // nil: empty
}

func newFlowMap() flowMap {
	return flowMap{slots: make([]mapSlot, 1024), seed: rand.Uint64() | 1}
}

// len gives the number of entries.
func (m *flowMap) len() int { return m.n }

// get returns the entry of k (hash h), or nil.
func (m *flowMap) get(k *tuple, h uint64) *entry {
	mask := uint64(len(m.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &m.slots[i]
		if s.e == nil {
			return nil
		}
		if s.hash == h && s.e.tuple.equal(k) {
			return s.e
		}
	}
}

// put adds e (whose tuple hashes to h); its tuple must not be present.
func (m *flowMap) put(e *entry, h uint64) {
	if (m.n+1)*4 > len(m.slots)*3 {
		m.grow()
	}
	mask := uint64(len(m.slots) - 1)
	i := h & mask
	for m.slots[i].e != nil {
		i = (i + 1) & mask
	}
	m.slots[i] = mapSlot{hash: h, e: e}
	m.n++
}

func (m *flowMap) grow() {
	old := m.slots
	m.slots = make([]mapSlot, 2*len(old))
	mask := uint64(len(m.slots) - 1)
	for _, s := range old {
		if s.e == nil {
			continue
		}
		i := s.hash & mask
		for m.slots[i].e != nil {
			i = (i + 1) & mask
		}
		m.slots[i] = s
	}
}

// remove deletes e (whose tuple hashes to h) if it is the entry held for
// its tuple; it reports whether it was.
func (m *flowMap) remove(e *entry, h uint64) bool {
	mask := uint64(len(m.slots) - 1)
	i := h & mask
	for {
		s := &m.slots[i]
		if s.e == nil {
			return false
		}
		if s.e == e {
			break
		}
		i = (i + 1) & mask
	}
	// Backward-shift: move later slots of the probe run into the hole
	// when their home position allows it.
	j := i
	for {
		j = (j + 1) & mask
		s := m.slots[j]
		if s.e == nil {
			break
		}
		home := s.hash & mask
		// s may move to i iff i lies cyclically in [home, j).
		if (j-home)&mask >= (j-i)&mask {
			m.slots[i] = s
			i = j
		}
	}
	m.slots[i] = mapSlot{}
	m.n--
	return true
}
