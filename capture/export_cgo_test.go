//go:build cgo

package capture

import "testing"

// testFilterMixed filters a file with Ethernet and SLL2 interfaces: each
// link type gets its own program, and the count is the decoder's.
func testFilterMixed(t *testing.T, path string, all []Packet) {
	want := 0
	for _, p := range all {
		if p.Flags.Has(SYN) {
			want++
		}
	}
	got, err := readAll(t, openOrFatal(t, path, 0, FileOptions{Filter: "tcp[tcpflags] & tcp-syn != 0"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != want || want == 0 {
		t.Errorf("SYN filter on a mixed pcapng: got %d packets, want %d", len(got), want)
	}
}
