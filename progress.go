package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rstscope/rstscope/capture"
)

// progress prints a one-line progress report on stderr while a long file
// is read, only when stderr is a terminal. It looks at the wall clock once
// every 64k packets, so it costs nothing per packet.
type progress struct {
	w       io.Writer
	on      bool
	n       uint64
	start   time.Time
	next    time.Time
	printed bool
}

func newProgress(stderr io.Writer, files bool) *progress {
	f, ok := stderr.(*os.File)
	on := files && ok && isTerminal(f)
	now := time.Now()
	return &progress{w: stderr, on: on, start: now, next: now.Add(time.Second)}
}

func (pr *progress) tick(p *capture.Packet) {
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
