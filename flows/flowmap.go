package flows

import "net/netip"

// flowMap is an open-addressing hash table (linear probing, backward-shift
// deletion) from a flow's endpoints to its entry, keyed by
// capture.FlowHash (symmetric: both directions find the flow; computed by
// Prefetch on the reading goroutine). A slot is 8 bytes, eight to a cache
// line: the hash's low 32 bits (its home position, and a tag, so that a
// probe compares the flow's endpoints only on a tag match) and a reference
// into the entry store or the SYN-only store. It grows when half full,
// never shrinks: its size follows the most flows held at once (at most
// 2^32 slots). At three quarters, a lookup on the bench mix probed about
// six slots (flows come and go, so the table is always near its peak):
// 139 instructions a packet in find, against 59 at a half (8 bytes a
// slot: 16 MB for a million flows either way, as a million is over three
// quarters of 2^20).
type flowMap struct {
	slots   []mapSlot // len is a power of two
	n       int
	entries *entryStore // where the entries of entry slots live
	syns    *synStore   // where the SYN-only flows of syn slots live
	frozen  *freezer    // where the frozen flows of frozen slots live
}

// mapSlot holds a full entry, a SYN-only flow or a frozen flow
// (freezer.go); ref 0: empty.
type mapSlot struct {
	hash uint32 // the flow hash's low 32 bits
	ref  uint32 // an entry's ref (see entryStore), or synRef of a SYN-only flow's index
}

// synBit marks a slot's ref as a SYN-only flow's.
const synBit = 1 << 31

func synRef(i uint32) uint32 { return i | synBit }

func (s *mapSlot) empty() bool { return s.ref == 0 }

// syn reports whether s holds a SYN-only flow, and its index.
func (s *mapSlot) syn() (uint32, bool) { return s.ref &^ synBit, s.ref&synBit != 0 }

func newFlowMap(entries *entryStore, syns *synStore) flowMap {
	return flowMap{slots: make([]mapSlot, 1024), entries: entries, syns: syns}
}

// len gives the number of entries.
func (m *flowMap) len() int { return m.n }

// get returns the full entry of the flow between src and dst (hash h),
// or nil.
func (m *flowMap) get(src, dst netip.AddrPort, h uint64) *entry {
	_, e := m.find(src, dst, h)
	return e
}

// find returns the slot of the flow between src and dst (hash h), or nil,
// and its full entry (m.entry of the slot: the probe has it at hand; nil
// for a SYN-only or frozen flow).
func (m *flowMap) find(src, dst netip.AddrPort, h64 uint64) (*mapSlot, *entry) {
	h := uint32(h64)
	mask := uint32(len(m.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &m.slots[i]
		switch {
		case s.ref == 0:
			return nil, nil
		case s.hash != h:
		case s.ref&(synBit|frozenBit) == 0:
			if e := m.entries.at(s.ref); e.st.ep.matches(src, dst) {
				return s, e
			}
		case s.ref&synBit == 0:
			if m.frozen.matches(s.ref&^frozenBit, src, dst) {
				return s, nil
			}
		default:
			if m.syns.at(s.ref&^synBit).matches(src, dst) {
				return s, nil
			}
		}
	}
}

// put adds e (whose endpoints hash to h); its flow must not be present.
func (m *flowMap) put(e *entry, h uint64) { m.putSlot(mapSlot{hash: uint32(h), ref: e.ref}) }

// putSlot adds s; its flow must not be present.
func (m *flowMap) putSlot(s mapSlot) {
	if (m.n+1)*2 > len(m.slots) {
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
	return m.removeSlot(mapSlot{hash: uint32(h), ref: e.ref})
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
