package pcapgen

import (
	"bytes"
	"testing"
)

// TestScan: n SYNs from one source port, each answered 100 us later by the
// target's RST/ACK (seq 0, ack = ISN+1, TTL 61, IP ID 0, DF); every tuple
// distinct, the ports wrapping to the next target after 65535, the packets
// in time order (decodeAll checks it, and every checksum).
func TestScan(t *testing.T) {
	const n = 70000 // past one target's 65,535 ports
	var buf bytes.Buffer
	g := New(&buf, Options{Snaplen: 128})
	Scan(g, n, Time(0))
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if st := g.Stats(); st.Packets != 2*n || st.RSTs != n || st.Flows != n {
		t.Fatalf("stats %+v, want %d packets, %d RSTs, %d flows", st, 2*n, n, n)
	}
	_, fs := decodeAll(t, buf.Bytes())
	syns := map[string]uint32{} // tuple -> ISN
	for _, f := range fs {
		if f.tcp.SYN {
			k := f.src().String() + ":" + f.tcp.SrcPort.String() + ">" + f.ip4.DstIP.String() + ":" + f.tcp.DstPort.String()
			if _, dup := syns[k]; dup {
				t.Fatalf("frame %d: tuple %s twice", f.n, k)
			}
			syns[k] = f.tcp.Seq
			continue
		}
		k := f.ip4.DstIP.String() + ":" + f.tcp.DstPort.String() + ">" + f.src().String() + ":" + f.tcp.SrcPort.String()
		isn, ok := syns[k]
		if !ok || !f.tcp.RST || !f.tcp.ACK || f.tcp.Seq != 0 || f.tcp.Ack != isn+1 || f.ttl() != 61 || f.ip4.Id != 0 {
			t.Fatalf("frame %d (%s): RST %v ACK %v seq %d ack %d TTL %d IP ID %d, want the RST/ACK of a SYN seen (ack %d, TTL 61, IP ID 0)",
				f.n, k, f.tcp.RST, f.tcp.ACK, f.tcp.Seq, f.tcp.Ack, f.ttl(), f.ip4.Id, isn+1)
		}
		delete(syns, k)
	}
	if len(syns) != 0 {
		t.Errorf("%d SYNs got no RST", len(syns))
	}
	if last := fs[len(fs)-1]; last.ip4.SrcIP.String() != "10.1.0.2" {
		t.Errorf("last frame from %s, want the second target 10.1.0.2", last.ip4.SrcIP)
	}
}
