//go:build !unix

package main

import "sync/atomic"

// notifyUSR1: no SIGUSR1 here.
func notifyUSR1(*atomic.Bool) func() { return func() {} }
