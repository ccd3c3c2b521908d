//go:build linux

package kernel

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestWallClock: the TAI offset is whole seconds, and a TAI reading
// converts to the realtime clock read next to it.
func TestWallClock(t *testing.T) {
	c := wallClock{tai: true}
	if err := c.measure(); err != nil {
		t.Fatal(err)
	}
	if c.offset%1e9 != 0 {
		t.Errorf("offset %d ns is not whole seconds", c.offset)
	}
	var tai, real unix.Timespec
	unix.ClockGettime(unix.CLOCK_TAI, &tai)
	unix.ClockGettime(unix.CLOCK_REALTIME, &real)
	got := c.wall(tai.Nano())
	skew := time.Unix(0, real.Nano()).Sub(got)
	if skew < 0 || skew > 10*time.Millisecond {
		t.Errorf("realtime read after the TAI reading is %v from its conversion, want 0..10ms", skew)
	}
	t.Logf("TAI offset %v; conversion vs realtime read next to it: %v", time.Duration(-c.offset), skew)
}

// TestWallClock_monotonic: before 6.1 events are stamped with
// CLOCK_MONOTONIC; they convert to the realtime clock read next to them.
func TestWallClock_monotonic(t *testing.T) {
	var c wallClock
	if err := c.measure(); err != nil {
		t.Fatal(err)
	}
	var mono, real unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &mono)
	unix.ClockGettime(unix.CLOCK_REALTIME, &real)
	skew := time.Unix(0, real.Nano()).Sub(c.wall(mono.Nano()))
	if skew < -time.Millisecond || skew > 10*time.Millisecond {
		t.Errorf("realtime read after the monotonic reading is %v from its conversion, want about 0", skew)
	}
	t.Logf("monotonic conversion vs realtime read next to it: %v", skew)
}
