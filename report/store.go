package report

import (
	"cmp"
	"slices"

	"github.com/rstscope/rstscope/heuristics"
)

// spillAfter is how many findings a document Writer keeps in memory
// (about 16 KB each with their ladders); past it, every finding goes to
// a temporary file as a compact record (appendSpill), and only a 40-byte
// sort key per finding stays in memory (issue 14.2: a million findings
// in any format within 1 GB). A variable so that tests can force
// spilling.
var spillAfter = 2048

// store keeps a document Writer's findings until Close and gives them
// back sorted by RST time, then frame, then input (write order on ties),
// numbered 1..n.
type store struct {
	mem  []heuristics.Finding // before spilling
	keys []storeKey           // after spilling: one per finding, in write order
	sw   *spillWriter         // the spill file, nil before spilling
	off  int64                // the records' length so far (a key's off is in it)
	// raw, when set, gives a finding's final bytes as the writer will
	// print them (its ID 0): the store then keeps those bytes instead of
	// the finding (in rawBuf, then in the spill file past spillAfter),
	// and eachRaw gives them back (see there). Set before the first add.
	raw    func(f *heuristics.Finding) ([]byte, error)
	rawBuf []byte
	rec    []byte // spill's record, reused
}

// storeKey is what sorting needs of a spilled finding, and where its
// record lies in the spill file.
type storeKey struct {
	sec   int64
	nsec  int32
	input int32
	frame uint64
	off   int64
	n     uint32
	// For raw records: what numbering needs (see echoIDs.resolve).
	middlebox, hasEcho bool
	echo               heuristics.RSTRef
}

// Len is the number of findings held.
func (s *store) Len() int { return len(s.mem) + len(s.keys) }

// add keeps a copy of f.
func (s *store) add(f *heuristics.Finding) error {
	if s.raw != nil {
		return s.addRaw(f)
	}
	if s.sw == nil && len(s.mem) < spillAfter {
		s.mem = append(s.mem, *f)
		return nil
	}
	if s.sw == nil {
		if err := s.startSpill(); err != nil {
			return err
		}
	}
	return s.spill(f)
}

// startSpill creates the spill file and moves the findings held in memory
// there.
func (s *store) startSpill() error {
	w, err := newSpillWriter()
	if err != nil {
		return err
	}
	s.sw = w
	mem := s.mem
	s.mem = nil
	for i := range mem {
		if err := s.spill(&mem[i]); err != nil {
			return err
		}
	}
	return nil
}

// rawMemMax bounds the raw records kept in memory (about 800 findings):
// past it they go to the spill file, so that the held bytes, and the
// garbage collector's goal with them, stay small.
const rawMemMax = 4 << 20

// addRaw keeps f's final bytes (see raw).
func (s *store) addRaw(f *heuristics.Finding) error {
	b, err := s.raw(f)
	if err != nil {
		return err
	}
	t := f.RST.Time.Time
	k := storeKey{sec: t.Unix(), nsec: int32(t.Nanosecond()), input: int32(f.RST.Input), frame: f.RST.Packet,
		off: s.off, n: uint32(len(b)), middlebox: f.Origin == heuristics.OriginMiddlebox}
	if f.Echoes != nil {
		k.hasEcho, k.echo = true, *f.Echoes
	}
	if s.sw == nil && (len(s.keys) >= spillAfter || len(s.rawBuf)+len(b) > rawMemMax) {
		w, err := newSpillWriter()
		if err != nil {
			return err
		}
		s.sw = w
		for _, k := range s.keys { // record by record: blocks end between records
			if err := w.write(s.rawBuf[k.off : k.off+int64(k.n)]); err != nil {
				return err
			}
		}
		s.rawBuf = nil
	}
	if s.sw == nil {
		if len(s.rawBuf)+len(b) > cap(s.rawBuf) {
			// Doubled: append grows a large slice by a quarter, which
			// copied and allocated five times what it kept.
			s.rawBuf = slices.Grow(s.rawBuf, max(len(s.rawBuf), len(b)))
		}
		s.rawBuf = append(s.rawBuf, b...)
	} else if err := s.sw.write(b); err != nil {
		return err
	}
	s.keys = append(s.keys, k)
	s.off += int64(len(b))
	return nil
}

// eachRaw calls fn with the raw records (see raw) in sorted order, with
// the ID and the consequence_of each is printed with, and whether its
// finding echoes another (Echoes set), and stops at fn's first error. b
// is valid during the call only. It closes the spill file.
func (s *store) eachRaw(fn func(id, consequenceOf int, echo bool, b []byte) error) error {
	var rd *spillReader
	if s.sw != nil {
		defer s.sw.close()
		if err := s.sw.flush(); err != nil {
			return err
		}
		rd = newSpillReader(s.sw)
	}
	s.sortKeys()
	var ids echoIDs
	for i, k := range s.keys {
		var b []byte
		if rd == nil {
			b = s.rawBuf[k.off : k.off+int64(k.n)]
		} else {
			var err error
			if b, err = rd.record(k); err != nil {
				return err
			}
		}
		// What resolve reads of a finding, from the key.
		f := heuristics.Finding{ID: i + 1, RST: heuristics.RSTInfo{Input: int(k.input), Packet: k.frame}}
		if k.middlebox {
			f.Origin = heuristics.OriginMiddlebox
		}
		if k.hasEcho {
			f.Echoes = &k.echo
		}
		ids.resolve(&f)
		if err := fn(f.ID, f.ConsequenceOf, k.hasEcho, b); err != nil {
			return err
		}
	}
	return nil
}

// sortKeys sorts the keys by RST time, then frame, then input (write
// order on ties).
func (s *store) sortKeys() {
	slices.SortStableFunc(s.keys, func(a, b storeKey) int {
		return cmp.Or(cmp.Compare(a.sec, b.sec), cmp.Compare(a.nsec, b.nsec),
			cmp.Compare(a.frame, b.frame), cmp.Compare(a.input, b.input))
	})
}

// spill appends f's record (appendSpill) to the spill file.
func (s *store) spill(f *heuristics.Finding) error {
	s.rec = appendSpill(s.rec[:0], f)
	if err := s.sw.write(s.rec); err != nil {
		return err
	}
	t := f.RST.Time.Time
	s.keys = append(s.keys, storeKey{sec: t.Unix(), nsec: int32(t.Nanosecond()), input: int32(f.RST.Input),
		frame: f.RST.Packet, off: s.off, n: uint32(len(s.rec))})
	s.off += int64(len(s.rec))
	return nil
}

// each calls fn with every finding in sorted order, numbered 1..n, and
// stops at fn's first error. The Finding passed is valid during the call
// only. It closes the spill file.
func (s *store) each(fn func(f *heuristics.Finding) error) error {
	if s.sw == nil {
		sortFindings(s.mem)
		for i := range s.mem {
			if err := fn(&s.mem[i]); err != nil {
				return err
			}
		}
		return nil
	}
	defer s.sw.close()
	if err := s.sw.flush(); err != nil {
		return err
	}
	s.sortKeys()
	var ids echoIDs
	rd := newSpillReader(s.sw)
	var f heuristics.Finding
	for i, k := range s.keys {
		b, err := rd.record(k)
		if err != nil {
			return err
		}
		if err := readSpill(string(b), &f); err != nil {
			return err
		}
		f.ID = i + 1
		ids.resolve(&f)
		if err := fn(&f); err != nil {
			return err
		}
	}
	return nil
}
