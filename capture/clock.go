package capture

import (
	"errors"
	"io"
	"time"
)

// ErrTimeout is returned by a live Source's Next when no TCP packet came
// within its read timeout (about 150 ms): the link was silent, or carried
// only frames Next skips. It is not an end: call Next again. It lets the
// caller move packet time on while the link is quiet (see Clock), so that
// events whose look-ahead has passed are decided without waiting for the
// next packet. File sources never return it.
var ErrTimeout = errors.New("capture: no packet within the read timeout")

// Clock is implemented by live Sources. Now gives the packet time of the
// present moment, for use after ErrTimeout: the time of the last frame read
// plus the monotonic time elapsed since the Source first saw the link
// silent after it. It is still packet time: frames are stamped by the
// kernel with the same realtime clock when they arrive, a read timeout
// means the kernel buffer was empty, so every frame read later carries a
// timestamp at or after Now (short of a step of the system clock). Now
// lags the true instant by at most one read timeout, so a caller that
// flushes to it never decides an event before a frame of its look-ahead
// window could still arrive. Before the first frame Now is the zero Time.
// Call it from the goroutine that calls Next.
type Clock interface {
	Now() time.Time
}

// OpenReader reads a pcap or pcapng capture, optionally gzip- or
// zstd-compressed, from r; name is used in messages. The Source does not
// close r. It is OpenFile for an already open file, e.g. one unlinked
// after creation.
func OpenReader(r io.Reader, name string, opts FileOptions) (Source, error) {
	return newFileSource(r, nil, name, 0, opts)
}
