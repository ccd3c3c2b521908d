//go:build !linux

package flows

// newSlab allocates n entries in one block: flows of a big capture sit
// next to each other, without the per-object rounding of separate
// allocations.
func newSlab(n int) []entry { return make([]entry, 0, n) }
