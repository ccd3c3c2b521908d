//go:build linux

package kernel

import (
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// wallClock turns the BPF program's stamps into wall-clock time: CLOCK_TAI
// (tai true, kernels 6.1+) or else CLOCK_MONOTONIC.
// The kernel keeps CLOCK_TAI = CLOCK_REALTIME + tai_offset, with tai_offset
// a whole number of seconds (0 unless NTP set it; 37 s since 2017), and a
// step of the realtime clock moves both; so the offset, measured and
// rounded to the second, converts exactly. It is re-measured every
// remeasure so that a leap-second change of tai_offset is followed.
//
// From CLOCK_MONOTONIC the offset is measured as the middle of two
// monotonic readings around a realtime one, every remeasure: the residual
// skew is half the bracket (under a microsecond here) plus what NTP slews
// in between (at most 500 ppm, 5 ms over 10 s; typically microseconds).
type wallClock struct {
	tai    bool
	mu     sync.Mutex
	offset int64 // realtime - stamp clock, ns (whole seconds for TAI)
	at     time.Time
}

const remeasure = 10 * time.Second

func (c *wallClock) measure() error {
	id := int32(unix.CLOCK_MONOTONIC)
	if c.tai {
		id = unix.CLOCK_TAI
	}
	var a, r, b unix.Timespec
	if err := unix.ClockGettime(id, &a); err != nil {
		return fmt.Errorf("kernel: clock %d: %w", id, err)
	}
	if err := unix.ClockGettime(unix.CLOCK_REALTIME, &r); err != nil {
		return fmt.Errorf("kernel: CLOCK_REALTIME: %w", err)
	}
	if err := unix.ClockGettime(id, &b); err != nil {
		return fmt.Errorf("kernel: clock %d: %w", id, err)
	}
	mid := (a.Nano() + b.Nano()) / 2
	off := r.Nano() - mid
	if c.tai {
		off = (off + sign(off)*5e8) / 1e9 * 1e9
	}
	c.mu.Lock()
	c.offset = off
	c.at = time.Now()
	c.mu.Unlock()
	return nil
}

func sign(v int64) int64 {
	if v < 0 {
		return -1
	}
	return 1
}

// wall converts a reading of the stamp clock in ns.
func (c *wallClock) wall(stamp int64) time.Time {
	c.mu.Lock()
	stale := time.Since(c.at) > remeasure
	c.mu.Unlock()
	if stale {
		_ = c.measure() // the clocks worked at Open; keep the last offset otherwise
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Unix(0, stamp+c.offset).UTC()
}
