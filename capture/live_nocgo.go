//go:build !cgo

package capture

import (
	"fmt"
	"io"
)

// OpenLive needs libpcap, and so cgo: this build cannot capture.
func OpenLive(iface string, opts LiveOptions) (Source, error) {
	return nil, fmt.Errorf("capture: %s: live capture needs a cgo build with libpcap (build with CGO_ENABLED=1); read a file with -r instead", iface)
}

// ListInterfaces needs libpcap, and so cgo.
func ListInterfaces(w io.Writer) error {
	return fmt.Errorf("capture: listing interfaces needs a cgo build with libpcap (build with CGO_ENABLED=1)")
}
