//go:build !cgo

package capture

import (
	"errors"
	"path/filepath"
	"testing"
)

// TestNoCgo: without cgo a filter and a live capture fail with a message
// that says why.
func TestNoCgo(t *testing.T) {
	_, err := OpenFile(filepath.Join(corpusDir, "ndpi/webex.pcap"), 0, FileOptions{Filter: "tcp port 80"})
	if want := `capture: BPF filters need a cgo build (filter "tcp port 80")`; err == nil || err.Error() != want || !errors.Is(err, ErrNeedCgo) {
		t.Errorf("filter: got %v, want %q", err, want)
	}
	_, err = OpenLive("eth0", DefaultLiveOptions())
	if want := "capture: eth0: live capture needs a cgo build with libpcap (build with CGO_ENABLED=1); read a file with -r instead"; err == nil || err.Error() != want {
		t.Errorf("live: got %v, want %q", err, want)
	}
}
