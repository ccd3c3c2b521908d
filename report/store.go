package report

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/rstscope/rstscope/heuristics"
)

// spillAfter is how many findings a document Writer keeps in memory
// (about 16 KB each with their ladders); past it, every finding goes to
// a temporary file as a compact JSON record, and only a 40-byte sort key
// per finding stays in memory (issue 14.2: a million findings in any
// format within 1 GB). A variable so that tests can force spilling.
var spillAfter = 2048

// store keeps a document Writer's findings until Close and gives them
// back sorted by RST time, then frame, then input (write order on ties),
// numbered 1..n.
type store struct {
	mem  []heuristics.Finding // before spilling
	keys []storeKey           // after spilling: one per finding, in write order
	file *os.File             // the spill file (already unlinked), nil before spilling
	bw   *bufio.Writer
	off  int64
	// raw, when set, gives a finding's final bytes as the writer will
	// print them (its ID 0): the store then keeps those bytes instead of
	// the finding (in rawBuf, then in the spill file past spillAfter),
	// and eachRaw gives them back (see there). Set before the first add.
	raw    func(f *heuristics.Finding) ([]byte, error)
	rawBuf []byte
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

// spillRecord is a finding as the spill file holds it. JSON keeps every
// value the outputs print (Instant microseconds, Millis and Seconds
// round-trip exactly); the RST payload, raw bytes that JSON would turn
// into U+FFFD, travels as base64.
type spillRecord struct {
	F       heuristics.Finding `json:"f"`
	Payload []byte             `json:"p,omitempty"`
	// The fields the contract leaves out of JSON (json:"-").
	Echoes     *heuristics.RSTRef `json:"e,omitempty"`
	AdviceTime time.Time          `json:"a,omitzero"`
}

// Len is the number of findings held.
func (s *store) Len() int { return len(s.mem) + len(s.keys) }

// add keeps a copy of f.
func (s *store) add(f *heuristics.Finding) error {
	if s.raw != nil {
		return s.addRaw(f)
	}
	if s.file == nil && len(s.mem) < spillAfter {
		s.mem = append(s.mem, *f)
		return nil
	}
	if s.file == nil {
		if err := s.startSpill(); err != nil {
			return err
		}
	}
	return s.spill(f)
}

// startSpill creates the spill file and moves the findings held in memory
// there.
func (s *store) startSpill() error {
	f, err := os.CreateTemp("", "rstscope-findings-*")
	if err != nil {
		return fmt.Errorf("report: spill file: %w", err)
	}
	os.Remove(f.Name()) // the open file stays readable; nothing is left behind
	s.file, s.bw = f, bufio.NewWriterSize(f, 1<<20)
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
	if s.file == nil && (len(s.keys) >= spillAfter || len(s.rawBuf)+len(b) > rawMemMax) {
		f, err := os.CreateTemp("", "rstscope-findings-*")
		if err != nil {
			return fmt.Errorf("report: spill file: %w", err)
		}
		os.Remove(f.Name()) // the open file stays readable; nothing is left behind
		s.file, s.bw = f, bufio.NewWriterSize(f, 1<<20)
		if _, err := s.bw.Write(s.rawBuf); err != nil {
			return fmt.Errorf("report: spill: %w", err)
		}
		s.rawBuf = nil
	}
	if s.file == nil {
		s.rawBuf = append(s.rawBuf, b...)
	} else if _, err := s.bw.Write(b); err != nil {
		return fmt.Errorf("report: spill: %w", err)
	}
	s.keys = append(s.keys, k)
	s.off += int64(len(b))
	return nil
}

// eachRaw calls fn with the raw records (see raw) in sorted order, with
// the ID and the consequence_of each is printed with, and stops at fn's
// first error. b is valid during the call only. It closes the spill
// file.
func (s *store) eachRaw(fn func(id, consequenceOf int, b []byte) error) error {
	if s.file != nil {
		defer s.file.Close()
		if err := s.bw.Flush(); err != nil {
			return fmt.Errorf("report: spill: %w", err)
		}
	}
	s.sortKeys()
	var ids echoIDs
	var buf []byte
	for i, k := range s.keys {
		var b []byte
		if s.file == nil {
			b = s.rawBuf[k.off : k.off+int64(k.n)]
		} else {
			if cap(buf) < int(k.n) {
				buf = make([]byte, k.n)
			}
			b = buf[:k.n]
			if _, err := s.file.ReadAt(b, k.off); err != nil && err != io.EOF {
				return fmt.Errorf("report: spill: %w", err)
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
		if err := fn(f.ID, f.ConsequenceOf, b); err != nil {
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

// spill appends f's record to the spill file.
func (s *store) spill(f *heuristics.Finding) error {
	r := spillRecord{F: *f, Payload: []byte(f.RST.Payload), Echoes: f.Echoes, AdviceTime: f.AdviceTime}
	r.F.RST.Payload = ""
	b, err := json.Marshal(&r)
	if err != nil {
		return fmt.Errorf("report: spill: %w", err)
	}
	if _, err := s.bw.Write(b); err != nil {
		return fmt.Errorf("report: spill: %w", err)
	}
	t := f.RST.Time.Time
	s.keys = append(s.keys, storeKey{sec: t.Unix(), nsec: int32(t.Nanosecond()), input: int32(f.RST.Input),
		frame: f.RST.Packet, off: s.off, n: uint32(len(b))})
	s.off += int64(len(b))
	return nil
}

// each calls fn with every finding in sorted order, numbered 1..n, and
// stops at fn's first error. The Finding passed is valid during the call
// only. It closes the spill file.
func (s *store) each(fn func(f *heuristics.Finding) error) error {
	if s.file == nil {
		sortFindings(s.mem)
		for i := range s.mem {
			if err := fn(&s.mem[i]); err != nil {
				return err
			}
		}
		return nil
	}
	defer s.file.Close()
	if err := s.bw.Flush(); err != nil {
		return fmt.Errorf("report: spill: %w", err)
	}
	s.sortKeys()
	// Reading a record back (JSON decoding) costs about what fn's writing
	// it out does: a goroutine decodes the records ahead, in order, while
	// fn writes, so that a document of many findings is finished on two
	// cores.
	out := make(chan *decoded, decodeAhead)
	free := make(chan *decoded, decodeAhead+2)
	for range decodeAhead + 2 {
		free <- new(decoded)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	defer func() { close(stop); <-done }()
	go s.decode(out, free, stop, done)
	var ids echoIDs
	i := 0
	for d := range out {
		if d.err != nil {
			return d.err
		}
		f := &d.r.F
		f.ID = i + 1
		i++
		ids.resolve(f)
		if err := fn(f); err != nil {
			return err
		}
		free <- d
	}
	return nil
}

// decodeAhead is how many findings the decoding goroutine of each may
// hold ready.
const decodeAhead = 32

// decoded is a spilled finding read back, or the error that stopped it.
type decoded struct {
	r   spillRecord
	err error
}

// decode reads the spilled records in the order of s.keys into
// findings taken from free and sends them to out (closed at the end or
// after an error), until stop is closed; it closes done when it returns.
func (s *store) decode(out, free chan *decoded, stop, done chan struct{}) {
	defer close(done)
	defer close(out)
	var buf []byte
	for _, k := range s.keys {
		var d *decoded
		select {
		case d = <-free:
		case <-stop:
			return
		}
		*d = decoded{} // Unmarshal leaves the fields a record lacks as they were
		if cap(buf) < int(k.n) {
			buf = make([]byte, k.n)
		}
		b := buf[:k.n]
		if _, err := s.file.ReadAt(b, k.off); err != nil && err != io.EOF {
			d.err = fmt.Errorf("report: spill: %w", err)
		} else if err := json.Unmarshal(b, &d.r); err != nil {
			d.err = fmt.Errorf("report: spill: %w", err)
		}
		r := &d.r
		r.F.RST.Payload = string(r.Payload)
		r.F.Echoes, r.F.AdviceTime = r.Echoes, r.AdviceTime
		// The record's times are microseconds; the key keeps the exact
		// RST time, which the ladder offsets and summaries do not need
		// beyond what prints.
		r.F.RST.Time.Time = time.Unix(k.sec, int64(k.nsec)).UTC()
		select {
		case out <- d:
		case <-stop:
			return
		}
		if d.err != nil {
			return
		}
	}
}
