//go:build linux && cgo

package kernel

import (
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rstscope/rstscope/internal/netnstest"
)

// TestTracer_Sync: a reader slowed to 20 ms a ring record (a loaded host)
// falls behind the kernel; Sync returns only once every event the kernel
// put in the ring before it was called has been read, however far behind
// the reader is, and false once the Tracer is closed.
func TestTracer_Sync(t *testing.T) {
	needRoot(t)
	p := netnstest.NewPair(t, "ksync", "10.231.78.1/30", "10.231.78.2/30")
	tr, err := Open(Options{NetNS: []uint32{nsInode(t, p.B)}})
	if err != nil {
		t.Fatalf("kernel tracer on %s: %v", Release(), err)
	}
	defer tr.Close()
	tr.raw = func([]byte) { time.Sleep(20 * time.Millisecond) }
	var mu sync.Mutex
	sent := map[uint16]bool{} // sender ports of B's send_reset events read
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			e, err := tr.Read()
			if err != nil {
				return
			}
			mu.Lock()
			if e.Kind == KindSendReset {
				sent[e.Sender.Port()] = true
			}
			mu.Unlock()
		}
	}()
	// Each connect to a closed port of B draws B's RST (NO_SOCKET); the
	// event is in the ring before the RST leaves B, so before connect
	// fails.
	const n = 25
	netnstest.In(t, p.A, func() {
		for i := range n {
			c, err := net.DialTimeout("tcp", net.JoinHostPort("10.231.78.2", strconv.Itoa(7100+i)), 2*time.Second)
			if err == nil {
				c.Close()
				t.Fatalf("port %d of B accepted a connection", 7100+i)
			}
		}
	})
	if !tr.Sync(10 * time.Second) {
		t.Fatal("Sync: false before Close")
	}
	mu.Lock()
	var missing []int
	for i := range n {
		if !sent[uint16(7100+i)] {
			missing = append(missing, 7100+i)
		}
	}
	mu.Unlock()
	if len(missing) > 0 {
		t.Errorf("after Sync, no send_reset read for ports %v (of %d)", missing, n)
	}
	// Already covered: a second Sync has nothing new to wait for but the
	// reader's next drains.
	if !tr.Sync(10 * time.Second) {
		t.Error("second Sync: false")
	}
	tr.Close()
	<-done
	if tr.Sync(time.Second) {
		t.Error("Sync after Close: true")
	}
}
