package flows

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"unsafe"
)

// hostIndex holds a table's host profiles by address.
//
// It is an open-addressing table of slots (the address's 16-byte form,
// whether it is IPv4, the profile), at most half full, probed linearly;
// the profiles themselves are allocated in chunks and never move, so a
// flow keeps a pointer to its hosts' (entry.hosts). A lookup reads one
// slot, rarely two, then the profile. The router of a Sharded looks up
// the sender of every packet: a Go map behind a 4,096-entry cache (two
// caches, the router's and the table's) missed the cache on captures of
// more hosts than that and then paid a map lookup as well.
//
// The slot is found by a seeded hash of the address (one 64x64->128
// multiply, as capture.FlowHash), so that a crafted capture cannot pile
// its sources into one run of slots.
type hostIndex struct {
	slots []hostSlot // len a power of two (or 0)
	n     int        // profiles held
	chunk []hostCell
	seed  uint64
}

// hostCell holds a profile 64-byte aligned (a chunk is: 32 KB is page
// aligned), its per-packet fields in one cache line (see HostProfile).
type hostCell struct {
	h HostProfile
	_ [128 - unsafe.Sizeof(HostProfile{})]byte
}

type hostSlot struct {
	a   [16]byte
	h   *HostProfile // nil: the slot is empty
	is4 bool
}

// hostChunk is how many profiles are allocated at once (32 KB).
const hostChunk = 256

func (x *hostIndex) hash(b *[16]byte) uint64 {
	if x.seed == 0 {
		x.seed = rand.Uint64() | 1
	}
	hi, lo := bits.Mul64(binary.LittleEndian.Uint64(b[:8])^x.seed, binary.LittleEndian.Uint64(b[8:])^0xa0761d6478bd642f)
	return hi ^ lo
}

// get gives the profile of a, or nil if a has none.
func (x *hostIndex) get(a netip.Addr) *HostProfile {
	if x.n == 0 {
		return nil
	}
	b, is4 := a.As16(), a.Is4()
	mask := uint64(len(x.slots) - 1)
	for i := x.hash(&b) & mask; ; i = (i + 1) & mask {
		s := &x.slots[i]
		if s.h == nil {
			return nil
		}
		if s.a == b && s.is4 == is4 {
			return s.h
		}
	}
}

// getOrAdd gives the profile of a, adding a new one (Known) when a has
// none and fewer than max are held; nil when the index is full.
func (x *hostIndex) getOrAdd(a netip.Addr, max int) *HostProfile {
	b, is4 := a.As16(), a.Is4()
	if len(x.slots) > 0 {
		mask := uint64(len(x.slots) - 1)
		i := x.hash(&b) & mask
		for ; ; i = (i + 1) & mask {
			s := &x.slots[i]
			if s.h == nil {
				break
			}
			if s.a == b && s.is4 == is4 {
				return s.h
			}
		}
		if x.n >= max {
			return nil
		}
		if 2*(x.n+1) <= len(x.slots) {
			return x.put(&x.slots[i], b, is4)
		}
	} else if max <= 0 {
		return nil
	}
	x.grow()
	mask := uint64(len(x.slots) - 1)
	i := x.hash(&b) & mask
	for x.slots[i].h != nil {
		i = (i + 1) & mask
	}
	return x.put(&x.slots[i], b, is4)
}

// put fills empty slot s with a new profile for the address b.
func (x *hostIndex) put(s *hostSlot, b [16]byte, is4 bool) *HostProfile {
	if len(x.chunk) == 0 {
		x.chunk = make([]hostCell, hostChunk)
	}
	h := &x.chunk[0].h
	x.chunk = x.chunk[1:]
	h.Known = true
	s.a, s.is4, s.h = b, is4, h
	x.n++
	return h
}

// grow doubles the slots (the first time: 1,024) and places every
// profile again.
func (x *hostIndex) grow() {
	old := x.slots
	x.slots = make([]hostSlot, max(2*len(old), 1024))
	mask := uint64(len(x.slots) - 1)
	for k := range old {
		s := &old[k]
		if s.h == nil {
			continue
		}
		i := x.hash(&s.a) & mask
		for x.slots[i].h != nil {
			i = (i + 1) & mask
		}
		x.slots[i] = *s
	}
}

// len gives the profiles held.
func (x *hostIndex) len() int { return x.n }
