package capture

import (
	"errors"
	"io"
	"slices"
)

// OpenFiles opens several captures as one Source whose packets come in
// timestamp order, as mergecap merges them: of the inputs' next packets the
// earliest goes first, the lower input on a tie. Packet.Input is the input's
// position in paths and Packet.Index its frame number within that input.
// Stats are summed over the inputs. An input cut mid-record stops only
// itself; the merged Source returns its error (wrapping ErrTruncated) after
// every other input's packets. With one path it is OpenFile(paths[0], 0, opts).
func OpenFiles(paths []string, opts FileOptions) (Source, error) {
	if len(paths) == 0 {
		return nil, errors.New("capture: no input files")
	}
	if len(paths) == 1 {
		return OpenFile(paths[0], 0, opts)
	}
	m := &mergeSource{
		srcs: make([]Source, len(paths)),
		next: make([]Packet, len(paths)),
		have: make([]bool, len(paths)),
		done: make([]bool, len(paths)),
	}
	for i, path := range paths {
		s, err := OpenFile(path, i, opts)
		if err != nil {
			m.Close()
			return nil, err
		}
		m.srcs[i] = s
	}
	return m, nil
}

// mergeSource merges Sources by packet time. It holds each input's next
// packet; a held packet's Payload and Frame alias its input's buffer, which
// stays valid until that input's Next is called again, so only the input
// whose packet was returned last is read ahead.
type mergeSource struct {
	srcs []Source
	next []Packet // next[i]: input i's next packet, valid iff have[i]
	have []bool
	done []bool // input i has ended
	err  error  // first error that ended an input other than io.EOF
}

// Next implements Source.
func (m *mergeSource) Next(p *Packet) error {
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
			m.done[i] = true
		default:
			m.done[i] = true
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

// addsLinkTypes: any input may add one.
func (m *mergeSource) addsLinkTypes() bool { return slices.ContainsFunc(m.srcs, MayAddLinkTypes) }

// LinkTypes implements LinkTyper: the union over the inputs, in input order.
func (m *mergeSource) LinkTypes() []int {
	var out []int
	for _, s := range m.srcs {
		lt, ok := s.(LinkTyper)
		if !ok {
			continue
		}
	next:
		for _, l := range lt.LinkTypes() {
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
