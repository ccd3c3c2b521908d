package flows

import (
	"net/netip"
	"testing"
	"time"

	"github.com/rstscope/rstscope/capture"
)

// TestPendingCap: a flood of RSTs on distinct tuples within one look-ahead
// never holds more than maxPending events waiting; the oldest are decided
// early, in order, and every RST is in exactly one event.
func TestPendingCap(t *testing.T) {
	n := maxPending + 500
	var got []uint64
	tb := NewTable(Options{MaxFlows: 10, OnEvent: func(e *Event) { got = append(got, e.RSTs[0].Frame) }})
	srv := netip.MustParseAddrPort("192.0.2.1:80")
	for i := range n {
		a := [4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}
		p := capture.Packet{Index: uint64(i + 1), Time: t0.Add(time.Duration(i) * time.Microsecond), Src: srv,
			Dst: netip.AddrPortFrom(netip.AddrFrom4(a), 40000), Flags: capture.RST, Seq: uint32(i), TTL: 64}
		tb.Add(&p)
		if w := len(tb.queue) - tb.qhead; w > maxPending+1 {
			t.Fatalf("frame %d: %d events waiting, want at most %d", i+1, w, maxPending+1)
		}
	}
	if early := len(got); early < n-maxPending-1 {
		t.Errorf("before Close: %d events decided, want at least %d", early, n-maxPending-1)
	}
	tb.Close()
	if len(got) != n {
		t.Fatalf("events: got %d, want %d", len(got), n)
	}
	for i, fr := range got {
		if fr != uint64(i+1) {
			t.Fatalf("event %d: RST frame %d, want %d (in order)", i+1, fr, i+1)
		}
	}
}

// TestHelloBufferCap: flows that each start a 16 KiB ClientHello and never
// finish it buffer at most maxHelloTotal bytes together; the flows past
// the cap keep what their first segment held (Cut), and ending the flows
// releases the accounting.
func TestHelloBufferCap(t *testing.T) {
	hello := []byte{0x16, 0x03, 0x01, 0x3e, 0x80, 0x01, 0x00, 0x3e, 0x7c, 0x03, 0x03}
	need := helloRecordLen(hello)
	n := maxHelloTotal/need + 10
	cut := 0
	tb := NewTable(Options{OnFlowEnd: func(f *Flow) {
		if r := f.Profile(FromClient).Request; r.Kind == PayloadTLSClientHello && r.Cut {
			cut++
		}
	}})
	srv := netip.MustParseAddrPort("192.0.2.1:443")
	for i := range n {
		a := [4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}
		p := capture.Packet{Index: uint64(i + 1), Time: t0.Add(time.Duration(i) * time.Microsecond),
			Src: netip.AddrPortFrom(netip.AddrFrom4(a), 40000), Dst: srv, Flags: capture.ACK | capture.PSH,
			Seq: 1, Ack: 1, Payload: hello, Len: len(hello), TTL: 64}
		tb.Add(&p)
		if tb.helloBytes > maxHelloTotal {
			t.Fatalf("frame %d: %d bytes of ClientHello buffers, want at most %d", i+1, tb.helloBytes, maxHelloTotal)
		}
	}
	if want := (maxHelloTotal / need) * need; tb.helloBytes != want {
		t.Errorf("buffered: got %d bytes, want %d", tb.helloBytes, want)
	}
	tb.Close()
	if tb.helloBytes != 0 || cut != n {
		t.Errorf("after Close: %d bytes accounted, %d hellos Cut; want 0 and %d", tb.helloBytes, cut, n)
	}
}
