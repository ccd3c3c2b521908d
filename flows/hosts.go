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
// It is an open-addressing table of 8-byte slots (a tag from the hash,
// the number of the profile's cell), at most half full, probed linearly;
// the cells (the profile and its address) are allocated in chunks and
// never move, so a flow keeps a pointer to its hosts' (entry.hosts). A
// table looks a host up when a flow starts; the router of a Sharded,
// which looks up the sender of every packet, keeps its IPv4 hosts in
// routerHosts' one-line entries and only the others here. (With the
// address in the slot, 32 bytes a slot, the slots of the bench capture's
// 5,570 hosts took 512 KB; now 128 KB. A Go map behind a 4,096-entry
// cache, before, missed the cache on captures of more hosts than that
// and then paid a map lookup as well.)
//
// The slot is found by a seeded hash of the address (one 64x64->128
// multiply, as capture.FlowHash), so that a crafted capture cannot pile
// its sources into one run of slots; the tag is the hash's other half.
type hostIndex struct {
	slots  []hostSlot // len a power of two (or 0)
	n      int        // profiles held
	chunks []*[hostChunk]hostCell
	seed   uint64
}

// hostCell holds a profile and its address, 128 bytes (a chunk is 32 KB,
// page aligned): the profile's per-packet fields in its first cache
// line, the address in the second (see HostProfile).
type hostCell struct {
	h   HostProfile
	a   [16]byte
	is4 bool
	_   [128 - unsafe.Sizeof(HostProfile{}) - 17]byte
}

// hostSlot is an empty slot when tag is 0.
type hostSlot struct {
	tag uint32 // the address hash's high half, never 0
	ref uint32 // the cell's number: chunks[ref/hostChunk][ref%hostChunk]
}

// hostChunk is how many cells are allocated at once (32 KB).
const hostChunk = 256

func (x *hostIndex) hash(b *[16]byte) uint64 {
	if x.seed == 0 {
		x.seed = rand.Uint64() | 1
	}
	hi, lo := bits.Mul64(binary.LittleEndian.Uint64(b[:8])^x.seed, binary.LittleEndian.Uint64(b[8:])^0xa0761d6478bd642f)
	return hi ^ lo
}

// tagOf gives the slot tag of hash h.
func tagOf(h uint64) uint32 { return uint32(h>>32) | 1 }

func (x *hostIndex) cell(ref uint32) *hostCell { return &x.chunks[ref/hostChunk][ref%hostChunk] }

// get gives the profile of a, or nil if a has none.
func (x *hostIndex) get(a netip.Addr) *HostProfile {
	if x.n == 0 {
		return nil
	}
	b, is4 := a.As16(), a.Is4()
	h := x.hash(&b)
	tag, mask := tagOf(h), uint64(len(x.slots)-1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &x.slots[i]
		if s.tag == 0 {
			return nil
		}
		if s.tag == tag {
			if c := x.cell(s.ref); c.a == b && c.is4 == is4 {
				return &c.h
			}
		}
	}
}

// getOrAdd gives the profile of a, adding a new one (Known) when a has
// none and fewer than max are held; nil when the index is full.
func (x *hostIndex) getOrAdd(a netip.Addr, max int) *HostProfile {
	b, is4 := a.As16(), a.Is4()
	h := x.hash(&b)
	tag := tagOf(h)
	if len(x.slots) > 0 {
		mask := uint64(len(x.slots) - 1)
		i := h & mask
		for ; ; i = (i + 1) & mask {
			s := &x.slots[i]
			if s.tag == 0 {
				break
			}
			if s.tag == tag {
				if c := x.cell(s.ref); c.a == b && c.is4 == is4 {
					return &c.h
				}
			}
		}
		if x.n >= max {
			return nil
		}
		if 2*(x.n+1) <= len(x.slots) {
			return x.put(&x.slots[i], b, is4, tag)
		}
	} else if max <= 0 {
		return nil
	}
	x.grow()
	mask := uint64(len(x.slots) - 1)
	i := h & mask
	for x.slots[i].tag != 0 {
		i = (i + 1) & mask
	}
	return x.put(&x.slots[i], b, is4, tag)
}

// put fills empty slot s with a new profile for the address b.
func (x *hostIndex) put(s *hostSlot, b [16]byte, is4 bool, tag uint32) *HostProfile {
	if x.n%hostChunk == 0 {
		x.chunks = append(x.chunks, new([hostChunk]hostCell))
	}
	ref := uint32(x.n)
	c := x.cell(ref)
	c.a, c.is4, c.h.Known = b, is4, true
	s.tag, s.ref = tag, ref
	x.n++
	return &c.h
}

// grow doubles the slots (the first time: 1,024) and places every
// profile again.
func (x *hostIndex) grow() {
	old := x.slots
	x.slots = make([]hostSlot, max(2*len(old), 1024))
	mask := uint64(len(x.slots) - 1)
	for _, s := range old {
		if s.tag == 0 {
			continue
		}
		i := x.hash(&x.cell(s.ref).a) & mask
		for x.slots[i].tag != 0 {
			i = (i + 1) & mask
		}
		x.slots[i] = s
	}
}

// len gives the profiles held.
func (x *hostIndex) len() int { return x.n }
