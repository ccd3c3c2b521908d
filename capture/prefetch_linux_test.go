package capture

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestPrefetch_fifoNotPrefetched: a FIFO (a live `tcpdump -w` into it) is
// read as it comes, not a batch at a time: with 20 packets written and the
// writer still open, 5 packets are returned at once, and Close does not
// wait for more data.
func TestPrefetch_fifoNotPrefetched(t *testing.T) {
	raw, err := os.ReadFile(writeManyFrames(t, 20))
	if err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(t.TempDir(), "live.pcap")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	writer := make(chan *os.File, 1)
	go func() {
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			writer <- nil
			return
		}
		w.Write(raw)
		writer <- w // kept open: the reader sees no end of file
	}()
	src, err := OpenFile(fifo, 0, FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w := <-writer
	if w == nil {
		t.Fatal("open the FIFO for writing failed")
	}
	defer w.Close()
	pre := Prefetch(src)
	if pre != src {
		t.Fatalf("Prefetch of a FIFO gave %T, want the Source itself", pre)
	}
	done := make(chan error, 1)
	go func() {
		var p Packet
		for range 5 {
			if err := pre.Next(&p); err != nil {
				done <- err
				return
			}
		}
		done <- pre.Close()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("got %v, want 5 packets and Close nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("still waiting for the FIFO after 5 s")
	}
}
