//go:build !cgo

package capture

import "testing"

func testFilterMixed(t *testing.T, path string, all []Packet) {}
