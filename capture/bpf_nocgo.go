//go:build !cgo

package capture

import "fmt"

// compileBPF fails: libpcap compiles BPF expressions, and it needs cgo.
func compileBPF(expr string, linkType int, bigEndian bool) (bpfProgram, error) {
	return nil, fmt.Errorf("capture: %w (filter %q)", ErrNeedCgo, expr)
}
