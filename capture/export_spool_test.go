package capture

import (
	"bytes"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// TestExporter_spool: an input that cannot be read twice (stdin, a pipe)
// is spooled, compressed: the spool of 2,000 packets of two flows, each
// with 200 bytes of HTTP-like payload, is under half the pcapng they
// make, and -w holds every packet of the marked flow, in order, byte for
// byte, and none of the other.
func TestExporter_spool(t *testing.T) {
	const n = 2000
	client := [2]netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.11")}
	server := netip.MustParseAddr("198.51.100.80")
	body := bytes.Repeat([]byte("GET /index.html HTTP/1.1\r\nHost: example.com\r\n"), 5)[:200]
	var pk []*Packet
	for i := range n {
		f := i % 2 // the flow
		ip := ipv4Layer(client[f], server, layers.IPProtocolTCP)
		ip.Id = uint16(i)
		tcp := &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: uint32(1000 + 200*(i/2)), Ack: 1, ACK: true, PSH: true, Window: 502}
		frame := buildFrame(t, &layers.Ethernet{SrcMAC: macIn, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4},
			ip, tcp, gopacket.Payload(body))
		pk = append(pk, &Packet{Index: uint64(i + 1), Time: rotateT0.Add(time.Duration(i) * time.Millisecond), LinkType: 1,
			Frame: frame, CapLen: len(frame), WireLen: len(frame),
			Src: netip.AddrPortFrom(client[f], 40000), Dst: netip.AddrPortFrom(server, 80)})
	}
	var raw bytes.Buffer
	rw := NewPcapngWriter(&raw)
	for _, p := range pk {
		if err := rw.WritePacket(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := rw.Flush(); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(t.TempDir(), "w.pcapng")
	e, err := NewExporter(out, nil, nil, ExportOptions{LinkTypes: []int{1}}) // no Inputs: spooled
	if err != nil {
		t.Fatal(err)
	}
	if e.spool == nil {
		t.Fatal("no spool for an input that cannot be reread")
	}
	for _, p := range pk {
		e.Packet(p)
	}
	e.Mark(pk[0].Dst, pk[0].Src) // flow 0, either way round
	if err := e.endSpool(); err != nil {
		t.Fatal(err)
	}
	fi, err := e.spool.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() == 0 || fi.Size()*2 > int64(raw.Len()) {
		t.Errorf("spool: %d bytes for %d bytes of pcapng, want under half", fi.Size(), raw.Len())
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	src, err := OpenFile(out, 0, FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	got, err := readAll(t, src)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n/2 {
		t.Fatalf("-w holds %d packets, want the marked flow's %d", len(got), n/2)
	}
	for k, p := range got {
		want := pk[2*k]
		if !bytes.Equal(p.Frame, want.Frame) || !p.Time.Equal(want.Time) {
			t.Fatalf("packet %d: frame or time differs from the %dth packet read (time %v, want %v)", k+1, 2*k+1, p.Time, want.Time)
		}
	}
}
