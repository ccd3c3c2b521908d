package capture

import (
	"errors"
	"io"
	"time"
)

// OpenFiles opens several captures as one Source whose packets come in
// timestamp order, as mergecap merges them: of the inputs' next packets the
// earliest goes first, the lower input on a tie. Packet.Input is the input's
// position in paths and Packet.Index its frame number within that input.
// Stats are summed over the inputs. An input cut mid-record stops only
// itself; the merged Source returns its error (wrapping ErrTruncated) after
// every other input's packets. With one path it is OpenFile(paths[0], 0, opts).
//
// Files are not all held open: each is opened once to read its first
// record's time, then again only when the merge reaches that time, and
// closed at its end; so a directory of rotated files (one after the other
// in time) holds about one open at a time, however many there are.
// Standard input ("-") stays open from the start.
func OpenFiles(paths []string, opts FileOptions) (Source, error) {
	if len(paths) == 0 {
		return nil, errors.New("capture: no input files")
	}
	if len(paths) == 1 {
		return OpenFile(paths[0], 0, opts)
	}
	m := &mergeSource{
		srcs:   make([]Source, len(paths)),
		next:   make([]Packet, len(paths)),
		have:   make([]bool, len(paths)),
		done:   make([]bool, len(paths)),
		paths:  paths,
		opts:   opts,
		start:  make([]time.Time, len(paths)),
		opened: make([]bool, len(paths)),
		sizes:  make([]int64, len(paths)),
		links:  make([][]int, len(paths)),
		adds:   make([]bool, len(paths)),
	}
	for i, path := range paths {
		s, err := OpenFile(path, i, opts)
		if err != nil {
			m.Close()
			return nil, err
		}
		fs := s.(*fileSource)
		m.sizes[i], m.adds[i] = fs.size, fs.addsLinkTypes()
		if path == "-" {
			m.srcs[i], m.opened[i] = s, true
			continue
		}
		m.start[i], _ = fs.firstTime() // none: opened at once (and empty)
		m.links[i] = fs.LinkTypes()
		s.Close()
	}
	return m, nil
}

// mergeSource merges Sources by packet time. It holds each input's next
// packet; a held packet's Payload and Frame alias its input's buffer, which
// stays valid until that input's Next is called again, so only the input
// whose packet was returned last is read ahead. An input is opened when
// the merge reaches its first record's time (start) and closed at its end.
type mergeSource struct {
	srcs []Source // nil until opened
	next []Packet // next[i]: input i's next packet, valid iff have[i]
	have []bool
	done []bool // input i has ended
	err  error  // first error that ended an input other than io.EOF

	paths  []string
	opts   FileOptions
	start  []time.Time // time of input i's first record
	opened []bool
	sizes  []int64 // file sizes, for Progress
	links  [][]int // link types known when input i was first opened
	adds   []bool  // input i may add link types (pcapng)
	// prefetch, when set, picks the inputs opened later that get a
	// Prefetch of their own (see prefetchIf).
	prefetch func(*fileSource) bool
}

// Next implements Source.
func (m *mergeSource) Next(p *Packet) error {
	for {
		for i := range m.srcs {
			if m.have[i] || m.done[i] || m.srcs[i] == nil {
				continue
			}
			// Only the input returned last (at the start, every input)
			// lacks a held packet.
			switch err := m.srcs[i].Next(&m.next[i]); {
			case err == nil:
				m.have[i] = true
			case err == io.EOF:
				m.end(i)
			default:
				m.end(i)
				if m.err == nil {
					m.err = err
				}
			}
		}
		best := -1
		for i := range m.next {
			if m.have[i] && (best < 0 || m.next[i].Time.Before(m.next[best].Time)) {
				best = i
			}
		}
		if !m.openDue(best) {
			if best < 0 {
				if m.err != nil {
					return m.err
				}
				return io.EOF
			}
			*p = m.next[best]
			m.have[best] = false
			return nil
		}
	}
}

// openDue opens the inputs that start no later than input best's held
// packet (when best < 0, those that start first); it reports whether it
// opened any.
func (m *mergeSource) openDue(best int) bool {
	var until time.Time
	if best >= 0 {
		until = m.next[best].Time
	} else {
		first := -1
		for j := range m.srcs {
			if !m.opened[j] && (first < 0 || m.start[j].Before(m.start[first])) {
				first = j
			}
		}
		if first < 0 {
			return false
		}
		until = m.start[first]
	}
	opened := false
	for j := range m.srcs {
		if m.opened[j] || m.start[j].After(until) {
			continue
		}
		m.opened[j], opened = true, true
		s, err := OpenFile(m.paths[j], j, m.opts)
		if err != nil {
			m.done[j] = true
			if m.err == nil {
				m.err = err
			}
			continue
		}
		if fs := s.(*fileSource); m.prefetch != nil && fs.steady && m.prefetch(fs) {
			s = newPrefetcher(fs)
		}
		m.srcs[j] = s
	}
	return opened
}

// end marks input i ended and closes it (its Stats stay readable).
func (m *mergeSource) end(i int) {
	m.done[i] = true
	if m.paths == nil || m.paths[i] != "-" {
		m.srcs[i].Close()
	}
}

// Stats implements Source: the inputs' counters summed.
func (m *mergeSource) Stats() Stats {
	var st Stats
	for _, s := range m.srcs {
		if s == nil {
			continue
		}
		in := s.Stats()
		st.Packets += in.Packets
		st.TCPPackets += in.TCPPackets
		st.NonTCP += in.NonTCP
		st.Undecodable += in.Undecodable
		st.SnapCut += in.SnapCut
		st.Filtered += in.Filtered
		st.Truncated = st.Truncated || in.Truncated
		st.KernelDrops += in.KernelDrops
		st.IfaceDrops += in.IfaceDrops
		if in.Packets > 0 {
			if st.FirstTime.IsZero() || in.FirstTime.Before(st.FirstTime) {
				st.FirstTime = in.FirstTime
			}
			if in.LastTime.After(st.LastTime) {
				st.LastTime = in.LastTime
			}
		}
		for _, fe := range in.FirstErrors {
			if len(st.FirstErrors) < maxFirstErrors {
				st.FirstErrors = append(st.FirstErrors, fe)
			}
		}
		for _, h := range in.Hidden {
			st.addHiddenN(h.Reason, h.Count)
		}
		st.HiddenOther += in.HiddenOther
	}
	return st
}

// addsLinkTypes: any input may add one (one not opened yet included).
func (m *mergeSource) addsLinkTypes() bool {
	for i, s := range m.srcs {
		if s == nil && m.adds[i] || s != nil && MayAddLinkTypes(s) {
			return true
		}
	}
	return false
}

// LinkTypes implements LinkTyper: the union over the inputs, in input order.
func (m *mergeSource) LinkTypes() []int {
	var out []int
	for i, s := range m.srcs {
		links := m.links[i] // not opened yet: as its header said
		if lt, ok := s.(LinkTyper); ok {
			links = lt.LinkTypes()
		}
	next:
		for _, l := range links {
			for _, o := range out {
				if o == l {
					continue next
				}
			}
			out = append(out, l)
		}
	}
	return out
}

// Close implements Source: it closes every input (each Close is safe to
// repeat) and returns the first error. Stats stay readable.
func (m *mergeSource) Close() error {
	var first error
	for i, s := range m.srcs {
		if s == nil {
			continue
		}
		if err := s.Close(); err != nil && first == nil {
			first = err
		}
		m.done[i], m.have[i] = true, false
	}
	return first
}

var (
	_ Source    = (*mergeSource)(nil)
	_ LinkTyper = (*mergeSource)(nil)
)
