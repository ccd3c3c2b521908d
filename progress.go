package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rstscope/rstscope/capture"
)

// progress prints a one-line progress report on stderr while a long file
// is read, only when stderr is a terminal: the share of the files read
// (bytes on disk, so the compressed bytes of a gzip file), packets per
// second and the time left, when the source knows its size (see
// capture.Progresser). It looks at the wall clock once every 64k packets,
// so it costs nothing per packet.
type progress struct {
	w       io.Writer
	on      bool
	src     capture.Progresser // nil when the size is unknown
	n       uint64
	start   time.Time
	next    time.Time
	printed bool
}

func newProgress(stderr io.Writer, files bool, src capture.Source) *progress {
	f, ok := stderr.(*os.File)
	on := files && ok && isTerminal(f)
	now := time.Now()
	pr, _ := src.(capture.Progresser)
	return &progress{w: stderr, on: on, src: pr, start: now, next: now.Add(time.Second)}
}

// progressLine gives the progress text after n packets in elapsed, with read of
// size bytes (size 0: unknown), at packet time at.
func progressLine(n uint64, elapsed time.Duration, read, size int64, at time.Time) string {
	rate := float64(n) / elapsed.Seconds()
	if size <= 0 || read <= 0 {
		return fmt.Sprintf("rstscope: %d packets read (%.2f M/s), at %s", n, rate/1e6, at.Format("2006-01-02 15:04:05"))
	}
	read = min(read, size)
	eta := time.Duration(float64(elapsed) * float64(size-read) / float64(read)).Round(time.Second)
	return fmt.Sprintf("rstscope: %3.0f%% of %s, %d packets (%.2f M/s), %s left, at %s",
		100*float64(read)/float64(size), sizeText(size), n, rate/1e6, eta, at.Format("2006-01-02 15:04:05"))
}

// sizeText gives a byte count in MB or GB.
func sizeText(b int64) string {
	if b >= 1e9 {
		return fmt.Sprintf("%.1f GB", float64(b)/1e9)
	}
	return fmt.Sprintf("%.0f MB", float64(b)/1e6)
}

func (pr *progress) tick(p *capture.Packet) {
	pr.n++
	if !pr.on || pr.n&0xffff != 0 {
		return
	}
	if now := time.Now(); now.After(pr.next) {
		pr.next = now.Add(500 * time.Millisecond)
		var read, size int64
		if pr.src != nil {
			read, size = pr.src.Progress()
		}
		fmt.Fprintf(pr.w, "\r\x1b[K%s", progressLine(pr.n, now.Sub(pr.start), read, size, p.Time))
		pr.printed = true
	}
}

func (pr *progress) done() {
	if pr.printed {
		fmt.Fprint(pr.w, "\r\x1b[K")
	}
}
