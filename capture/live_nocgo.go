//go:build !cgo

package capture

import "fmt"

// OpenLive needs libpcap, and so cgo: this build cannot capture.
func OpenLive(iface string, opts LiveOptions) (Source, error) {
	return nil, fmt.Errorf("capture: %s: live capture needs a cgo build with libpcap (build with CGO_ENABLED=1); read a file with -r instead", iface)
}
