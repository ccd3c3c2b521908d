//go:build unix

package cli

import (
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
)

// notifyUSR1 sets flag on each SIGUSR1 (tcpdump's habit: print the
// running counts without stopping). It returns the function that stops it.
func notifyUSR1(flag *atomic.Bool) func() {
	ch := make(chan os.Signal, 1)
	done := make(chan struct{})
	signal.Notify(ch, syscall.SIGUSR1)
	go func() {
		for {
			select {
			case <-ch:
				flag.Store(true)
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}
