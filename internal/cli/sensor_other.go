//go:build !unix

package cli

import "sync/atomic"

// notifyUSR1: no SIGUSR1 here.
func notifyUSR1(*atomic.Bool) func() { return func() {} }
