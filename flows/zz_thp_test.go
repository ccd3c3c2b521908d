package flows

import (
	"io"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/rstscope/rstscope/capture"
)

func thrCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(1 /*RUSAGE_THREAD*/, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestZZTHP(t *testing.T) {
	path := os.Getenv("ZZ")
	if path == "" {
		t.Skip()
	}
	src, err := capture.OpenFile(path, 0, capture.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pk := make([]capture.Packet, 0, 10300000)
	for len(pk) < cap(pk) {
		var p capture.Packet
		if err := src.Next(&p); err == io.EOF {
			break
		}
		p.Payload = append([]byte(nil), p.Payload...)
		p.Frame = nil
		pk = append(pk, p)
	}
	runtime.LockOSThread()
	for r := 0; r < 3; r++ {
		for _, thp := range []bool{false, true} {
			noTHP = !thp
			runtime.GC()
			tb := NewTable(Options{OnEvent: func(*Event) {}})
			c0, w0 := thrCPU(), time.Now()
			for i := range pk {
				tb.Add(&pk[i])
			}
			tb.Close()
			c1, w1 := thrCPU(), time.Now()
			t.Logf("thp=%v cpu %v wall %v ns/pkt(cpu) %.0f peak %d", thp, c1-c0, w1.Sub(w0), float64(c1-c0)/float64(len(pk)), tb.Stats().PeakActive)
		}
	}
}
