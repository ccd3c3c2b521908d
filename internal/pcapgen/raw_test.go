package pcapgen

import (
	"bytes"
	"io"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// TestAppendTCP_raw: AppendTCP packets in a RawWriter file decode with
// gopacket with the fields given and valid checksums, IPv4 and IPv6 with
// an extension header chain.
func TestAppendTCP_raw(t *testing.T) {
	var buf bytes.Buffer
	w := NewRaw(&buf, 1, 65535)
	c4, s4 := netip.MustParseAddrPort("10.1.2.3:1234"), netip.MustParseAddrPort("10.9.8.7:80")
	c6, s6 := netip.MustParseAddrPort("[2001:db8::1]:1234"), netip.MustParseAddrPort("[2001:db8::2]:443")
	f1 := AppendTCP(AppendEthernet(nil, 0x0800), RawTCP{Src: c4, Dst: s4, Flags: SYN, Seq: 77, TTL: 61, IPID: 9,
		Options: []byte{2, 4, 5, 0xb4}, Payload: []byte("hi")})
	hbh := []byte{60, 0, 1, 4, 0, 0, 0, 0} // hop-by-hop -> destination options
	dst := []byte{6, 0, 1, 4, 0, 0, 0, 0}  // destination options -> TCP
	f2 := AppendTCP(AppendEthernet(nil, 0x86dd), RawTCP{Src: c6, Dst: s6, Flags: RST | ACK, Seq: 5, Ack: 6, TTL: 50,
		IPv6Ext: append(hbh, dst...), IPv6Next: 0})
	w.Write(Time(0), f1, len(f1))
	w.Write(Time(-1), f2, len(f2)) // backwards in time
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := pcapgo.NewReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct {
		seq   uint32
		flags string
	}{{77, "SYN"}, {5, "RST ACK"}} {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			t.Fatalf("frame %d: %v", i+1, err)
		}
		p := gopacket.NewPacket(data, layers.LinkTypeEthernet, gopacket.Default)
		tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if tcp == nil {
			t.Fatalf("frame %d: no TCP layer (%v)", i+1, p.ErrorLayer())
		}
		if tcp.Seq != want.seq || tcp.SYN != (want.flags == "SYN") || tcp.RST != (want.flags != "SYN") {
			t.Errorf("frame %d: seq %d SYN %v RST %v, want %d %s", i+1, tcp.Seq, tcp.SYN, tcp.RST, want.seq, want.flags)
		}
		f := frame{n: i + 1, ci: ci, pkt: p, tcp: tcp}
		f.ip4, _ = p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		f.ip6, _ = p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		verifyChecksums(t, f)
	}
	if _, _, err := r.ReadPacketData(); err != io.EOF {
		t.Errorf("after 2 frames: got %v, want EOF", err)
	}
}

// TestNGWriter: a pcapng with two link types and an unknown block reads
// back with pcapgo, frames on the right interfaces.
func TestNGWriter(t *testing.T) {
	var buf bytes.Buffer
	n := NewNG(&buf)
	eth := n.Interface(1, 65535)
	raw := n.Interface(101, 65535)
	pkt := AppendTCP(nil, RawTCP{Src: netip.MustParseAddrPort("10.0.0.1:1"), Dst: netip.MustParseAddrPort("10.0.0.2:2"), Flags: SYN})
	n.Packet(eth, Time(0), append(AppendEthernet(nil, 0x0800), pkt...), 14+len(pkt))
	n.Block(0x0badf00d, []byte("unknown block"))
	n.Packet(raw, Time(1), pkt, len(pkt))
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := pcapgo.NewNgReader(bytes.NewReader(buf.Bytes()), pcapgo.NgReaderOptions{WantMixedLinkType: true})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{eth, raw} {
		_, ci, err := r.ReadPacketData()
		if err != nil {
			t.Fatalf("frame %d: %v", i+1, err)
		}
		if ci.InterfaceIndex != want {
			t.Errorf("frame %d: interface %d, want %d", i+1, ci.InterfaceIndex, want)
		}
	}
}
