package flows

// Per-direction and per-host statistics, updated packet by packet in fixed
// space.

// maxSmallStep is the largest forward IP ID step counted as "small"
// (a counter shared with a little other traffic).
const maxSmallStep = 1000

// Add records one TTL sample.
func (s *TTLStats) Add(ttl uint8) {
	// Fast path, the usual case: the sample is the mode, which holds the
	// largest count already and keeps it; Min and Max cannot move.
	if s.Count > 0 && ttl == s.Mode {
		for i := range s.Vals {
			if s.Counts[i] > 0 && s.Vals[i] == ttl {
				s.Counts[i]++
				s.Count++
				return
			}
		}
	}
	if s.Count == 0 || ttl < s.Min {
		s.Min = ttl
	}
	if s.Count == 0 || ttl > s.Max {
		s.Max = ttl
	}
	s.Count++
	for i := range s.Vals {
		if s.Counts[i] == 0 {
			s.Vals[i], s.Counts[i] = ttl, 1
			break
		}
		if s.Vals[i] == ttl {
			s.Counts[i]++
			break
		}
	}
	best := 0
	for i := 1; i < len(s.Counts); i++ {
		if s.Counts[i] > s.Counts[best] {
			best = i
		}
	}
	s.Mode = s.Vals[best]
}

// Add records one IP ID sample and recomputes the model (see IPIDStats).
func (s *IPIDStats) Add(id uint16) {
	if s.Samples > 0 {
		last := s.Last
		switch step := id - last; {
		case id == 0 && last == 0:
			s.Zero++
		case id == 0 || last == 0:
			// to or from zero: neither evidence of a counter nor against it
		case step <= maxSmallStep:
			s.Small++
			if s.stepVotes == 0 {
				s.stepCand, s.stepVotes = step, 1
			} else if s.stepCand == step {
				s.stepVotes++
			} else {
				s.stepVotes--
			}
		default:
			s.Large++
		}
	}
	s.Samples++
	s.Last = id
	switch {
	case s.Samples < 3:
		s.Model = IPIDUnknown
	case s.Zero == s.Samples-1:
		s.Model = IPIDZero
	case s.Small > 0 && s.Large*4 <= s.Small:
		s.Model = IPIDIncrementing
		s.Step = s.stepCand
	default:
		s.Model = IPIDRandom
	}
}

// Distance gives how far id lies ahead of the last sample (modulo 2^16,
// so a value just behind the last one gives a large distance).
func (s *IPIDStats) Distance(id uint16) uint16 { return id - s.Last }
