package capture

import (
	"testing"
	"unsafe"
)

// TestPacket_layout: what a flow table reads of every packet lies in the
// Packet's first three cache lines (a Prefetch batch is page aligned and
// a Packet 256 bytes, so each starts a line), the rest in the fourth.
// The reader's core writes the batch and the table's core reads it: a
// line that holds only export's fields is one the table never fetches.
func TestPacket_layout(t *testing.T) {
	var p Packet
	if s := unsafe.Sizeof(p); s != 256 {
		t.Errorf("Packet is %d bytes, want 256 (four cache lines; a batch's Packets then each start one)", s)
	}
	hot := map[string][2]uintptr{
		"FlowHash": {unsafe.Offsetof(p.FlowHash), unsafe.Sizeof(p.FlowHash)},
		"Index":    {unsafe.Offsetof(p.Index), unsafe.Sizeof(p.Index)},
		"Input":    {unsafe.Offsetof(p.Input), unsafe.Sizeof(p.Input)},
		"Time":     {unsafe.Offsetof(p.Time), unsafe.Sizeof(p.Time)},
		"Len":      {unsafe.Offsetof(p.Len), unsafe.Sizeof(p.Len)},
		"Flags":    {unsafe.Offsetof(p.Flags), unsafe.Sizeof(p.Flags)},
		"TTL":      {unsafe.Offsetof(p.TTL), unsafe.Sizeof(p.TTL)},
		"HasMAC":   {unsafe.Offsetof(p.HasMAC), unsafe.Sizeof(p.HasMAC)},
		"IPID":     {unsafe.Offsetof(p.IPID), unsafe.Sizeof(p.IPID)},
		"Window":   {unsafe.Offsetof(p.Window), unsafe.Sizeof(p.Window)},
		"Src":      {unsafe.Offsetof(p.Src), unsafe.Sizeof(p.Src)},
		"Dst":      {unsafe.Offsetof(p.Dst), unsafe.Sizeof(p.Dst)},
		"Seq":      {unsafe.Offsetof(p.Seq), unsafe.Sizeof(p.Seq)},
		"Ack":      {unsafe.Offsetof(p.Ack), unsafe.Sizeof(p.Ack)},
		"Payload":  {unsafe.Offsetof(p.Payload), unsafe.Sizeof(p.Payload)},
		"Opts":     {unsafe.Offsetof(p.Opts), unsafe.Sizeof(p.Opts)},
		"SrcMAC":   {unsafe.Offsetof(p.SrcMAC), unsafe.Sizeof(p.SrcMAC)},
		"DF":       {unsafe.Offsetof(p.DF), unsafe.Sizeof(p.DF)},
		"Reserved": {unsafe.Offsetof(p.Reserved), unsafe.Sizeof(p.Reserved)},
		"Tunnel":   {unsafe.Offsetof(p.Tunnel), unsafe.Sizeof(p.Tunnel)},
		"VLAN":     {unsafe.Offsetof(p.VLAN), unsafe.Sizeof(p.VLAN)},
	}
	for name, at := range hot {
		if end := at[0] + at[1]; end > 3*64 {
			t.Errorf("Packet.%s ends at byte %d, past the first three cache lines", name, end)
		}
	}
}

// TestTCPFlags_String: letters in tcpdump's order, "." for none, the same
// from the precomputed names as built letter by letter, and bits past the
// nine flags ignored.
func TestTCPFlags_String(t *testing.T) {
	for _, c := range []struct {
		f    TCPFlags
		want string
	}{
		{0, "."}, {SYN, "S"}, {SYN | ACK, "SA"}, {RST | ACK, "RA"}, {PSH | ACK, "PA"}, {FIN | ACK, "FA"},
		{FIN | SYN | RST | PSH | ACK | URG | ECE | CWR | NS, "SFRPAUEWN"}, {1<<12 | RST, "R"},
	} {
		if got := c.f.String(); got != c.want {
			t.Errorf("%#x: got %q, want %q", uint16(c.f), got, c.want)
		}
	}
	for f := range TCPFlags(1 << len(flagLetters)) {
		if got, want := f.String(), f.letters(); got != want {
			t.Fatalf("%#x: got %q, built %q", uint16(f), got, want)
		}
	}
}
