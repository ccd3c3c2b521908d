package flows

import "net/netip"

// flowMap is an open-addressing hash table (linear probing, backward-shift
// deletion) from a flow's endpoints to its entry, keyed by
// capture.FlowHash (symmetric: both directions find the flow; computed by
// Prefetch on the reading goroutine). Each slot keeps the hash's low 32
// bits (its home position, and a tag) next to the entry pointer, so a
// probe compares the flow's endpoints only on a tag match; a slot is 16
// bytes, four to a cache line. It grows when three quarters full, never
// shrinks: its size follows the most flows held at once (at most 2^32
// slots).
type flowMap struct {
	slots []mapSlot // len is a power of two
	n     int
	syns  *synStore // where the SYN-only flows of syn slots live
}

// mapSlot holds a full entry (e) or a SYN-only flow (syn, its index in
// the synStore plus one); both zero: empty.
type mapSlot struct {
	hash uint32 // the flow hash's low 32 bits
	syn  uint32
	e    *entry
}

func (s *mapSlot) empty() bool { return s.e == nil && s.syn == 0 }

func newFlowMap(syns *synStore) flowMap {
	return flowMap{slots: make([]mapSlot, 1024), syns: syns}
}

// matches reports whether a packet from src to dst belongs to e's flow
// (either direction).
func (e *entry) matches(src, dst netip.AddrPort) bool { return e.st.ep.matches(src, dst) }

// len gives the number of entries.
func (m *flowMap) len() int { return m.n }

// get returns the full entry of the flow between src and dst (hash h),
// or nil.
func (m *flowMap) get(src, dst netip.AddrPort, h uint64) *entry {
	s := m.find(src, dst, h)
	if s == nil {
		return nil
	}
	return s.e
}

// find returns the slot of the flow between src and dst (hash h), or nil.
func (m *flowMap) find(src, dst netip.AddrPort, h64 uint64) *mapSlot {
	h := uint32(h64)
	mask := uint32(len(m.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &m.slots[i]
		if s.e != nil {
			if s.hash == h && s.e.matches(src, dst) {
				return s
			}
			continue
		}
		if s.syn == 0 {
			return nil
		}
		if s.hash == h && m.syns.at(s.syn-1).matches(src, dst) {
			return s
		}
	}
}

// put adds e (whose endpoints hash to h); its flow must not be present.
func (m *flowMap) put(e *entry, h uint64) { m.putSlot(mapSlot{hash: uint32(h), e: e}) }

// putSlot adds s; its flow must not be present.
func (m *flowMap) putSlot(s mapSlot) {
	if (m.n+1)*4 > len(m.slots)*3 {
		m.grow()
	}
	mask := uint32(len(m.slots) - 1)
	i := s.hash & mask
	for !m.slots[i].empty() {
		i = (i + 1) & mask
	}
	m.slots[i] = s
	m.n++
}

func (m *flowMap) grow() {
	old := m.slots
	m.slots = make([]mapSlot, 2*len(old))
	mask := uint32(len(m.slots) - 1)
	for _, s := range old {
		if s.empty() {
			continue
		}
		i := s.hash & mask
		for !m.slots[i].empty() {
			i = (i + 1) & mask
		}
		m.slots[i] = s
	}
}

// remove deletes e (whose endpoints hash to h) if it is the entry held
// for its flow; it reports whether it was.
func (m *flowMap) remove(e *entry, h uint64) bool {
	return m.removeSlot(mapSlot{hash: uint32(h), e: e})
}

// removeSlot deletes the slot equal to want, if held; it reports whether
// it was.
func (m *flowMap) removeSlot(want mapSlot) bool {
	mask := uint32(len(m.slots) - 1)
	i := want.hash & mask
	for {
		s := &m.slots[i]
		if s.empty() {
			return false
		}
		if *s == want {
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
		if s.empty() {
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
