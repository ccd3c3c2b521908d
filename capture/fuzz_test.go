package capture

import (
	"errors"
	"testing"
)

// FuzzDecode feeds arbitrary frames of every link type to Decode: it must
// not panic, must return one of its three error kinds, and on success the
// payload must lie inside the frame, be no longer than Len, and the header
// fields must be consistent.
func FuzzDecode(f *testing.F) {
	// Seeds: every synthetic frame of TestDecode, one per link type and
	// tunnel (Ethernet, 802.1Q, QinQ, MPLS, LLC/SNAP, PPPoE, SLL, SLL2, raw,
	// null, loop, C-HDLC, NFLOG, PPP, IPv6 extension headers, GRE, ERSPAN
	// I/II/III, Aruba, VXLAN, Geneve, IPIP, 6in4, IPv6-in-IPv6).
	for _, c := range decodeCases(f) {
		f.Add(c.linkType, c.frame)
	}
	// A 60-byte padded Ethernet RST.
	f.Add(1, []byte("\x02\x00\x00\x00\x00\x0b\x02\x00\x00\x00\x00\x0a\x08\x00"+
		"\x45\x00\x00\x28\x12\x34\x40\x00\x3d\x06\x00\x00\x0a\x00\x00\x01\x0a\x00\x00\x02"+
		"\x01\xbb\x9c\x40\x00\x00\x00\x4d\x00\x00\x00\x00\x50\x04\x00\x00\x00\x00\x00\x00"+
		"\x00\x00\x00\x00\x00\x00"))
	// A TCP header with an options length byte running past the header.
	f.Add(101, []byte("\x45\x00\x00\x20\x00\x00\x00\x00\x40\x06\x00\x00\x0a\x00\x00\x01\x0a\x00\x00\x02"+
		"\x00\x50\x9c\x40\x00\x00\x00\x01\x00\x00\x00\x00\x60\x02\xff\xff\x00\x00\x00\x00\x08\x0a\x00\x00"))
	// Deep nesting: IPv6-in-IPv6 header without a payload.
	f.Add(229, []byte("\x60\x00\x00\x00\x00\x28\x29\x40"+string(make([]byte, 32))+
		"\x60\x00\x00\x00\x00\x00\x29\x40"+string(make([]byte, 32))))
	// An unsupported link type and an empty frame.
	f.Add(147, []byte{1, 2, 3, 4})
	f.Add(1, []byte{})

	d := NewDecoder()
	f.Fuzz(func(t *testing.T, linkType int, frame []byte) {
		frame = frame[:len(frame):len(frame)]
		var p Packet
		err := d.Decode(linkType, frame, &p)
		if err != nil {
			if !errors.Is(err, ErrNotTCP) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupportedLinkType) {
				t.Fatalf("link type %d: got error %v, want ErrNotTCP, ErrMalformed or ErrUnsupportedLinkType", linkType, err)
			}
			return
		}
		if p.LinkType != linkType || len(p.Frame) != len(frame) {
			t.Fatalf("LinkType/Frame got %d/%d bytes, want %d/%d", p.LinkType, len(p.Frame), linkType, len(frame))
		}
		if len(p.Payload) > p.Len {
			t.Fatalf("payload %d bytes, longer than Len %d", len(p.Payload), p.Len)
		}
		if len(p.Payload) > 0 {
			off := cap(frame) - cap(p.Payload) // both slices end at the same array end
			if off < 0 || off+len(p.Payload) > len(frame) || &frame[off] != &p.Payload[0] {
				t.Fatalf("payload (%d bytes) is not inside the frame (%d bytes)", len(p.Payload), len(frame))
			}
			if off < int(p.DataOffset) {
				t.Fatalf("payload starts at %d, before the end of a %d-byte tcp header", off, p.DataOffset)
			}
		}
		// A bogus data offset (below 20) is kept, as tshark does, with
		// Opts.Bad set and no payload.
		if p.DataOffset > 60 || p.Len < 0 || (p.DataOffset < 20 && (!p.Opts.Bad || p.Len != 0 || len(p.Payload) != 0)) {
			t.Fatalf("DataOffset %d, Len %d, %d payload bytes, Opts.Bad %v: out of range", p.DataOffset, p.Len, len(p.Payload), p.Opts.Bad)
		}
		if !p.Src.IsValid() || !p.Dst.IsValid() { // families may differ: IPv4-mapped IPv6 is unmapped
			t.Fatalf("addresses %v > %v: invalid", p.Src, p.Dst)
		}
		if !p.Src.Addr().Is4() && (p.IPID != 0 || p.DF) {
			t.Fatalf("IPv6 packet with IPID %d, DF %v", p.IPID, p.DF)
		}
		if int(p.Tunnel) >= len(tunnelNames) {
			t.Fatalf("tunnel %d out of range", p.Tunnel)
		}
	})
}
