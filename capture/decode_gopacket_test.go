package capture

import (
	"bytes"
	"net/netip"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// gopacketView is what gopacket's own decoding says about a frame's TCP
// segment, in Packet's terms, for the differential test.
func gopacketView(linkType int, frame []byte) (Packet, bool) {
	pkt := gopacket.NewPacket(frame, layers.LinkType(linkType), gopacket.DecodeOptions{NoCopy: true})
	if pkt.ErrorLayer() != nil {
		return Packet{}, false
	}
	tcp, ok := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if !ok {
		return Packet{}, false
	}
	var p Packet
	var src, dst netip.Addr
	ips := 0
	for _, l := range pkt.Layers() {
		switch l := l.(type) {
		case *layers.IPv4:
			ips++
			src, _ = netip.AddrFromSlice(l.SrcIP)
			dst, _ = netip.AddrFromSlice(l.DstIP)
			p.TTL, p.IPID, p.DF, p.FlowLabel = l.TTL, l.Id, l.Flags&layers.IPv4DontFragment != 0, 0
		case *layers.IPv6:
			ips++
			src, _ = netip.AddrFromSlice(l.SrcIP)
			dst, _ = netip.AddrFromSlice(l.DstIP)
			p.TTL, p.IPID, p.DF, p.FlowLabel = l.HopLimit, 0, false, l.FlowLabel
		case *layers.Ethernet:
			p.HasMAC = true
			copy(p.SrcMAC[:], l.SrcMAC)
		case *layers.Dot11:
			p.HasMAC = true
			switch {
			case l.Flags.ToDS() && l.Flags.FromDS():
				copy(p.SrcMAC[:], l.Address4)
			case l.Flags.FromDS():
				copy(p.SrcMAC[:], l.Address3)
			default:
				copy(p.SrcMAC[:], l.Address2)
			}
		case *layers.LinuxSLL:
			if l.AddrType == 1 && l.AddrLen == 6 { // ARPHRD_ETHER
				p.HasMAC = true
				copy(p.SrcMAC[:], l.Addr)
			}
		case *layers.LinuxSLL2:
			if l.ARPHardwareType == 1 && l.AddrLength == 6 {
				p.HasMAC = true
				copy(p.SrcMAC[:], l.Addr)
			}
		}
	}
	if ips == 0 {
		return Packet{}, false
	}
	p.Src = netip.AddrPortFrom(src.Unmap(), uint16(tcp.SrcPort))
	p.Dst = netip.AddrPortFrom(dst.Unmap(), uint16(tcp.DstPort))
	p.Seq, p.Ack, p.Window = tcp.Seq, tcp.Ack, tcp.Window
	p.DataOffset = tcp.DataOffset * 4
	for _, f := range []struct {
		on  bool
		bit TCPFlags
	}{{tcp.FIN, FIN}, {tcp.SYN, SYN}, {tcp.RST, RST}, {tcp.PSH, PSH}, {tcp.ACK, ACK},
		{tcp.URG, URG}, {tcp.ECE, ECE}, {tcp.CWR, CWR}, {tcp.NS, NS}} {
		if f.on {
			p.Flags |= f.bit
		}
	}
	for _, o := range tcp.Options {
		switch {
		case o.OptionType == layers.TCPOptionKindMSS && len(o.OptionData) == 2:
			p.Opts.MSS, p.Opts.HasMSS = be16(o.OptionData), true
		case o.OptionType == layers.TCPOptionKindWindowScale && len(o.OptionData) == 1:
			p.Opts.WScale, p.Opts.HasWScale = o.OptionData[0], true
		case o.OptionType == layers.TCPOptionKindSACKPermitted:
			p.Opts.SACKPerm = true
		case o.OptionType == layers.TCPOptionKindTimestamps && len(o.OptionData) == 8:
			p.Opts.HasTS, p.Opts.TSVal, p.Opts.TSEcr = true, be32(o.OptionData), be32(o.OptionData[4:])
		}
	}
	p.Payload = tcp.Payload
	return p, true
}

// compareWithGopacket checks the fields both decoders report. It returns
// false when gopacket does not find a TCP segment in the frame.
func compareWithGopacket(t *testing.T, where string, linkType int, frame []byte, d *Decoder) bool {
	t.Helper()
	if linkType == linkIEEE80211 {
		// gopacket takes an FCS off every LINKTYPE_IEEE802_11 frame; the
		// link type may or may not carry one, and tshark (and Decode)
		// assume none: the IP length says where the segment ends.
		return false
	}
	want, ok := gopacketView(linkType, frame)
	if !ok {
		return false
	}
	var got Packet
	if err := d.Decode(linkType, frame, &got); err != nil {
		t.Errorf("%s: got error %v, gopacket decodes tcp %v > %v", where, err, want.Src, want.Dst)
		return true
	}
	if !bytes.Equal(got.Payload, want.Payload) {
		t.Errorf("%s: payload got %d bytes, gopacket %d", where, len(got.Payload), len(want.Payload))
	}
	g, w := got, want
	g.Opts = Options{MSS: got.Opts.MSS, HasMSS: got.Opts.HasMSS, WScale: got.Opts.WScale, HasWScale: got.Opts.HasWScale,
		SACKPerm: got.Opts.SACKPerm, HasTS: got.Opts.HasTS, TSVal: got.Opts.TSVal, TSEcr: got.Opts.TSEcr}
	for _, f := range []struct {
		name      string
		got, want any
	}{
		{"Src", g.Src, w.Src}, {"Dst", g.Dst, w.Dst}, {"TTL", g.TTL, w.TTL}, {"IPID", g.IPID, w.IPID},
		{"DF", g.DF, w.DF}, {"FlowLabel", g.FlowLabel, w.FlowLabel}, {"Seq", g.Seq, w.Seq}, {"Ack", g.Ack, w.Ack},
		{"Window", g.Window, w.Window}, {"Flags", g.Flags, w.Flags}, {"DataOffset", g.DataOffset, w.DataOffset},
		{"Opts", g.Opts, w.Opts}, {"HasMAC", g.HasMAC, w.HasMAC}, {"SrcMAC", g.SrcMAC, w.SrcMAC},
	} {
		if f.got != f.want {
			t.Errorf("%s: %s got %v, gopacket %v", where, f.name, f.got, f.want)
		}
	}
	return true
}

// TestDecode_gopacket is a differential test: for every synthetic test frame
// and every corpus frame in which gopacket's own decoding finds a TCP segment
// without error, Decode must agree with it field by field.
func TestDecode_gopacket(t *testing.T) {
	d := NewDecoder()
	compared := 0
	for _, c := range decodeCases(t) {
		if compareWithGopacket(t, c.name, c.linkType, c.frame, d) {
			compared++
		}
	}
	for _, row := range corpusManifest(t) {
		for i, f := range corpusFrames(t, filepath.Join(corpusDir, row["file"])) {
			where := row["file"] + ": frame " + strconv.Itoa(i+1)
			if compareWithGopacket(t, where, f.linkType, f.data, d) {
				compared++
			}
		}
	}
	t.Logf("compared %d frames with gopacket", compared)
	if compared < 10000 {
		t.Errorf("compared %d frames with gopacket, want the corpus's TCP frames", compared)
	}
}
