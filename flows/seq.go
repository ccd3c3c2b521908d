package flows

// Seq is a TCP sequence number. Comparisons are modulo 2^32 (RFC 9293
// section 3.4): a is "less than" b when b lies in the 2^31 numbers after a.
type Seq uint32

// LessThan reports whether s comes before o in sequence space.
func (s Seq) LessThan(o Seq) bool { return int32(uint32(s)-uint32(o)) < 0 }

// LessThanEq reports whether s comes before or equals o.
func (s Seq) LessThanEq(o Seq) bool { return s == o || s.LessThan(o) }

// Add returns s advanced by n bytes.
func (s Seq) Add(n uint32) Seq { return Seq(uint32(s) + n) }

// Sub returns the signed distance s - o.
func (s Seq) Sub(o Seq) int32 { return int32(uint32(s) - uint32(o)) }

// InWindow reports whether s lies in [start, start+size).
func (s Seq) InWindow(start Seq, size uint32) bool {
	return uint32(s)-uint32(start) < size
}
