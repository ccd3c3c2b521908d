package flows

// slabMax is the most entries allocated at once (about 4 MB).
const slabMax = 4096

// entryStore holds the table's entries in slabs (see newSlab) of 64, 128,
// ... up to slabMax entries; an entry's ref (entry.ref) is its slab's
// index times slabMax plus its place in the slab, plus one (0 is no entry):
// the flow map keeps refs, 4 bytes, not pointers. Entries are never
// freed, only reused (Table.spare).
type entryStore struct {
	slabs [][]entry
	n     int // entries made
}

// at gives the entry of ref.
func (s *entryStore) at(ref uint32) *entry {
	ref--
	return &s.slabs[ref/slabMax][ref%slabMax]
}

// alloc makes a new entry (zero but for its ref).
func (s *entryStore) alloc() *entry {
	last := len(s.slabs) - 1
	if last < 0 || len(s.slabs[last]) == cap(s.slabs[last]) {
		size := 64
		if last >= 0 {
			size = min(2*cap(s.slabs[last]), slabMax)
		}
		s.slabs = append(s.slabs, newSlab(size))
		last++
	}
	sl := s.slabs[last][:len(s.slabs[last])+1]
	s.slabs[last] = sl
	e := &sl[len(sl)-1]
	e.ref = uint32(last*slabMax+len(sl)-1) + 1
	s.n++
	return e
}
