//go:build linux

package flows

import (
	"os"
	"syscall"
	"unsafe"
)

var noTHP = os.Getenv("ZZNOTHP") != ""

// newSlab allocates n entries in one block and asks the kernel to back it
// with transparent huge pages (a hint: THP may be off). The flow table is
// read at random, one flow per packet: with 4 KiB pages nearly every
// packet also misses the TLB.
func newSlab(n int) []entry {
	s := make([]entry, 0, n)
	if noTHP || n < slabMax {
		return s
	}
	const huge = 2 << 20
	size := uintptr(n) * unsafe.Sizeof(entry{})
	mem := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s[:1]))), size)
	start := uintptr(unsafe.Pointer(unsafe.SliceData(mem)))
	a, b := (start+huge-1)&^(huge-1), (start+size)&^(huge-1)
	if a < b {
		_ = syscall.Madvise(mem[a-start:b-start], 14) // MADV_HUGEPAGE
	}
	return s
}
