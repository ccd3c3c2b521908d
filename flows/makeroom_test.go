package flows

import (
	"cmp"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/rstscope/rstscope/capture"
)

// TestTable_fullTableFindsHalfOpenAnywhere (issue 14 item 10): with
// MaxFlows 500, 100 long-lived connections that talk every 5 s sit at the
// head of the table's order between bursts, while 1,000 spoofed SYNs a
// second (every other one retransmitted after 1 s, so some half-open flows
// are full entries) fill the rest; a real connection starts every second
// and is reset by its server. The full table must end half-open flows,
// wherever they are, rather than drop the real connections: nothing is
// dropped and every real RST is judged in its established flow.
func TestTable_fullTableFindsHalfOpenAnywhere(t *testing.T) {
	const seconds = 20
	srv := netip.MustParseAddrPort("192.0.2.80:443")
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var pk []capture.Packet
	add := func(at time.Duration, src, dst netip.AddrPort, fl capture.TCPFlags, seq, ack uint32, n int) {
		pk = append(pk, capture.Packet{Time: t0.Add(at), Src: src, Dst: dst, Flags: fl, Seq: seq, Ack: ack,
			Len: n, Payload: make([]byte, n), TTL: 64, Window: 1000})
	}
	conn := func(cl netip.AddrPort, at time.Duration) {
		add(at, cl, srv, capture.SYN, 100, 0, 0)
		add(at+time.Millisecond, srv, cl, capture.SYN|capture.ACK, 300, 101, 0)
		add(at+2*time.Millisecond, cl, srv, capture.ACK, 101, 301, 0)
		add(at+3*time.Millisecond, cl, srv, capture.PSH|capture.ACK, 101, 301, 10)
	}
	// Long-lived connections, talking every 5 s, reset at the end.
	for i := range 100 {
		cl := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, 0, byte(i)}), 5000)
		conn(cl, time.Duration(i)*time.Millisecond)
		for s := 5; s < seconds; s += 5 {
			add(time.Duration(s)*time.Second+time.Duration(i)*time.Millisecond, srv, cl, capture.ACK, 301, 111, 0)
		}
		add(seconds*time.Second+time.Duration(i)*time.Millisecond, srv, cl, capture.RST, 301, 0, 0)
	}
	// One real connection a second, reset by its server after its request.
	for s := 1; s < seconds; s++ {
		cl := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 2, 0, byte(s)}), 6000)
		at := time.Duration(s)*time.Second + 500*time.Microsecond
		conn(cl, at)
		add(at+4*time.Millisecond, srv, cl, capture.RST|capture.ACK, 301, 111, 0)
	}
	// The flood.
	for i := range seconds * 1000 {
		cl := netip.AddrPortFrom(netip.AddrFrom4([4]byte{172, 16, byte(i >> 8), byte(i)}), 7000)
		at := time.Duration(i) * time.Millisecond
		add(at, cl, srv, capture.SYN, uint32(i), 0, 0)
		if i%2 == 0 {
			add(at+time.Second, cl, srv, capture.SYN, uint32(i), 0, 0)
		}
	}
	slices.SortStableFunc(pk, func(a, b capture.Packet) int { return a.Time.Compare(b.Time) })
	for i := range pk {
		pk[i].Index = uint64(i + 1)
	}
	for _, full := range []bool{false, true} { // SYN-only records, or the half-open list alone
		checkNoneDropped(t, pk, full, 100+seconds-1)
	}
}

func checkNoneDropped(t *testing.T, pk []capture.Packet, noSynOnly bool, want int) {
	t.Helper()
	var evs []Event
	tb := NewTable(Options{MaxFlows: 500, OnEvent: func(e *Event) { evs = append(evs, *e) }})
	tb.noSynOnly = noSynOnly
	for i := range pk {
		tb.Add(&pk[i])
	}
	st := tb.Stats()
	tb.Close()
	if st.Dropped != 0 {
		t.Errorf("noSynOnly=%v: dropped: got %d packets of new flows, want 0 (the table holds %d, EndedEarly %d)", noSynOnly, st.Dropped, st.Active, st.EndedEarly)
	}
	if len(evs) != want {
		t.Fatalf("noSynOnly=%v: got %d events, want %d", noSynOnly, len(evs), want)
	}
	slices.SortFunc(evs, func(a, b Event) int { return cmp.Compare(a.RSTs[0].Frame, b.RSTs[0].Frame) })
	for i := range evs {
		e := &evs[i]
		if e.Flow.ID == 0 || !e.Flow.Established || e.First().SeqCheck != SeqExact {
			t.Errorf("noSynOnly=%v: RST frame %d (%v): got flow ID %d established %v seq check %v, want its tracked established flow and exact",
				noSynOnly, e.RSTs[0].Frame, e.Flow.Client, e.Flow.ID, e.Flow.Established, e.First().SeqCheck)
		}
	}
}
