package capture

import (
	"fmt"
	"io"
	"time"
)

// progress prints a one-line progress report (on stderr, when it is a
// terminal) while a long file is read. It looks at the wall clock once
// every 64k packets, so it costs nothing per packet.
type progress struct {
	w       io.Writer
	on      bool
	n       uint64
	start   time.Time
	next    time.Time
	printed bool
}

func newProgress(w io.Writer) *progress {
	now := time.Now()
	return &progress{w: w, on: w != nil, start: now, next: now.Add(time.Second)}
}

func (pr *progress) tick(p *Packet) {
	pr.n++
	if !pr.on || pr.n&0xffff != 0 {
		return
	}
	if now := time.Now(); now.After(pr.next) {
		pr.next = now.Add(500 * time.Millisecond)
		rate := float64(pr.n) / now.Sub(pr.start).Seconds()
		fmt.Fprintf(pr.w, "\r\x1b[Krstscope: %d packets read (%.2f M/s), at %s", pr.n, rate/1e6, p.Time.Format("2006-01-02 15:04:05"))
		pr.printed = true
	}
}

func (pr *progress) done() {
	if pr.printed {
		fmt.Fprint(pr.w, "\r\x1b[K")
	}
}
