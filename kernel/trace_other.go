//go:build !linux

package kernel

import (
	"errors"
	"time"
)

// Options configures a Tracer.
type Options struct {
	NetNS    []uint32
	Tracefs  string
	RingSize int
}

// Tracer is only available on Linux.
type Tracer struct{}

// ErrClosed is returned by Read after Close.
var ErrClosed = errors.New("kernel: tracer closed")

var errUnsupported = errors.New("kernel: reset reasons need Linux (tracepoints and BPF)")

// Open fails: the kernel's reset events exist only on Linux.
func Open(Options) (*Tracer, error)       { return nil, errUnsupported }
func CurrentNetNS() (uint32, error)       { return 0, errUnsupported }
func (t *Tracer) Read() (Event, error)    { return Event{}, errUnsupported }
func (t *Tracer) Session() Session        { return Session{} }
func (t *Tracer) Lost() uint64            { return 0 }
func (t *Tracer) Close() error            { return nil }
func (t *Tracer) Sync(time.Duration) bool { return false }

// Release names the system, for messages.
func Release() string { return "this system" }
