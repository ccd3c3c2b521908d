package flows

import "net/netip"

// flowMap is an open-addressing hash table (linear probing, backward-shift
// deletion) from a flow's endpoints to its entry, keyed by
// capture.FlowHash (symmetric: both directions find the flow; computed by
// Prefetch on the reading goroutine). Each slot keeps the hash next to the
// entry pointer, so a probe compares the flow's endpoints only on a full
// hash match. It grows when three quarters full, never shrinks: its size
// follows the most flows held at once.
type flowMap struct {
	slots []mapSlot // len is a power of two
	n     int
}

type mapSlot struct {
	hash uint64
	e    *entry // nil: empty
}

func newFlowMap() flowMap {
	return flowMap{slots: make([]mapSlot, 1024)}
}

// matches reports whether a packet from src to dst belongs to e's flow
// (either direction).
func (e *entry) matches(src, dst netip.AddrPort) bool {
	f := &e.flow
	return src == f.Client && dst == f.Server || src == f.Server && dst == f.Client
}

// len gives the number of entries.
func (m *flowMap) len() int { return m.n }

// get returns the entry of the flow between src and dst (hash h), or nil.
func (m *flowMap) get(src, dst netip.AddrPort, h uint64) *entry {
	mask := uint64(len(m.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &m.slots[i]
		if s.e == nil {
			return nil
		}
		if s.hash == h && s.e.matches(src, dst) {
			return s.e
		}
	}
}

// put adds e (whose endpoints hash to h); its flow must not be present.
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

// remove deletes e (whose endpoints hash to h) if it is the entry held
// for its flow; it reports whether it was.
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
