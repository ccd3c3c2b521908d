//go:build !linux

package capture

import "fmt"

// DropPrivileges is implemented on Linux only.
func DropPrivileges(name string) error {
	return fmt.Errorf("capture: drop privileges to %s: not supported on this system", name)
}
