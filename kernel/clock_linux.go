//go:build linux

package kernel

import (
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// wallClock turns the BPF program's CLOCK_TAI stamps into wall-clock time.
// The kernel keeps CLOCK_TAI = CLOCK_REALTIME + tai_offset, with tai_offset
// a whole number of seconds (0 unless NTP set it; 37 s since 2017), and a
// step of the realtime clock moves both; so the offset, measured and
// rounded to the second, converts exactly. It is re-measured every
// remeasure so that a leap-second change of tai_offset is followed.
type wallClock struct {
	mu     sync.Mutex
	offset int64 // realtime - tai, ns (a multiple of 1e9)
	at     time.Time
}

const remeasure = 10 * time.Second

func (c *wallClock) measure() error {
	var a, r, b unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_TAI, &a); err != nil {
		return fmt.Errorf("kernel: CLOCK_TAI: %w", err)
	}
	if err := unix.ClockGettime(unix.CLOCK_REALTIME, &r); err != nil {
		return fmt.Errorf("kernel: CLOCK_REALTIME: %w", err)
	}
	if err := unix.ClockGettime(unix.CLOCK_TAI, &b); err != nil {
		return fmt.Errorf("kernel: CLOCK_TAI: %w", err)
	}
	mid := (a.Nano() + b.Nano()) / 2
	off := r.Nano() - mid
	c.mu.Lock()
	c.offset = (off + sign(off)*5e8) / 1e9 * 1e9
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

// wall converts a CLOCK_TAI reading in ns.
func (c *wallClock) wall(tai int64) time.Time {
	c.mu.Lock()
	stale := time.Since(c.at) > remeasure
	c.mu.Unlock()
	if stale {
		_ = c.measure() // the clocks worked at Open; keep the last offset otherwise
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Unix(0, tai+c.offset).UTC()
}
