package report

// plainRun gives the end of the run of bytes of s from i on that both
// Sanitize and a JSON string keep as they are (printable ASCII but '"'
// and '\\'): the index of the first other byte, or len(s). Eight bytes
// are tested at once (SWAR: a test a word for a byte below 0x20, one of
// 0x7f or above, a '"' and a '\\'), then the last few one by one.
//
// Why: a finding's summary, advice and evidence are hundreds of such
// bytes, each of which Sanitize and appendJSONString tested in a loop of
// their own (a table lookup or three compares and a branch a byte):
// about 15,000 of a port scan finding's 115,000 instructions
// (cachegrind).
func plainRun(s string, i int) int {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	for ; i+8 <= len(s); i += 8 {
		// Eight byte loads the compiler merges into one (from w, whose
		// length it knows: from s, a bounds check each).
		w := s[i : i+8]
		x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
			uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
		below := (x - 0x20*ones) &^ x // a byte below 0x20 (or one of 0x80 and above) sets its high bit
		above := (x + ones) | x       // a byte of 0x7f or above sets its high bit (carries come only from 0xff)
		q, b := x^('"'*ones), x^('\\'*ones)
		quote := (q - ones) &^ q // a '"' (a zero byte of q) sets its high bit
		slash := (b - ones) &^ b
		if (below|above|quote|slash)&highs != 0 {
			break
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return i
		}
	}
	return i
}
