package flows

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/rstscope/rstscope/capture"
)

// fuzzTemplates are payload sources: TLS records (a ClientHello start, an
// alert, application data), HTTP, garbage.
var fuzzTemplates = [][]byte{
	append([]byte{0x16, 0x03, 0x01, 0x00, 0x40, 0x01, 0x00, 0x00, 0x3c, 0x03, 0x03}, make([]byte, 80)...),
	{0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28, 0x17, 0x03, 0x03, 0x00, 0x13, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 0x14, 0x03, 0x03, 0x00, 0x01, 0x01},
	[]byte("GET /index.html HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n"),
	[]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
	{0x16, 0x03, 0x03, 0x00, 0x30, 0x02, 0x00, 0x00, 0x2c, 0x03, 0x03},
}

// fuzzPackets turns bytes into packets, 8 bytes each: endpoints and
// direction, flags, seq, ack, payload length and source, time step, TTL/ID.
func fuzzPackets(data []byte) []capture.Packet {
	addrs := []netip.Addr{
		netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"),
		netip.MustParseAddr("10.0.0.3"), netip.MustParseAddr("2001:db8::1"),
	}
	var out []capture.Packet
	now := t0
	for i := 0; i+8 <= len(data); i += 8 {
		b := data[i : i+8]
		c := netip.AddrPortFrom(addrs[b[0]&1], 40000+uint16(b[0]>>1&3))
		s := netip.AddrPortFrom(addrs[1+b[0]>>3&1], 443)
		if b[0]>>6&1 == 1 {
			c = netip.AddrPortFrom(addrs[3], c.Port())
			s = netip.AddrPortFrom(netip.MustParseAddr("2001:db8::2"), 443)
		}
		p := capture.Packet{Index: uint64(len(out) + 1), Src: c, Dst: s, Window: uint16(b[7]) << 4}
		if b[0]>>4&1 == 1 {
			p.Src, p.Dst = s, c
		}
		p.Flags = capture.TCPFlags(b[1] & 0x3f)
		p.Seq = 1000 + uint32(b[2])<<4
		p.Ack = 1000 + uint32(b[3])<<4
		if b[2] == 0xff {
			p.Seq = 0xfffffff0 // near the wrap
		}
		tpl := fuzzTemplates[int(b[4]>>5)%len(fuzzTemplates)]
		if n := int(b[4] & 0x1f); n > 0 && b[4]>>5 < 5 {
			p.Len = n * 3
			off := int(b[5]) % len(tpl)
			p.Payload = tpl[off:min(len(tpl), off+p.Len)]
		}
		step := time.Duration(b[6]&0x7f) * time.Millisecond
		if b[6]&0x80 != 0 {
			step *= 50
		}
		if b[5]&0x80 != 0 && b[6]&1 == 1 {
			step = -step // out-of-order capture time
		}
		switch b[6] {
		case 0xff:
			step = 90 * 24 * time.Hour // a time jump ahead (outlier or step: see clock.go)
		case 0xfd:
			step = -time.Hour // a clock step back
		}
		now = now.Add(step)
		p.Time = now
		p.TTL = b[7]
		p.IPID = uint16(b[7]) * uint16(b[5])
		p.Opts.HasTS = b[5]&1 == 1
		p.Opts.HasWScale, p.Opts.WScale = b[5]&2 != 0, b[7]&15
		out = append(out, p)
	}
	return out
}

func FuzzTable(f *testing.F) {
	// handshake, request, RST
	f.Add([]byte{
		0, 0x02, 0, 0, 0, 0, 1, 64,
		0x10, 0x12, 0, 1, 0, 0, 1, 52,
		0, 0x10, 1, 1, 0, 0, 1, 64,
		0, 0x18, 1, 1, 0x45, 0, 1, 64,
		0x10, 0x14, 1, 2, 0, 0, 1, 60,
		0x10, 0x04, 9, 2, 0, 0, 1, 60,
	})
	// refused SYNs on many tuples (past MaxFlows)
	f.Add([]byte{
		0, 0x02, 0, 0, 0, 0, 1, 64, 0x10, 0x14, 0, 1, 0, 0, 1, 64,
		2, 0x02, 0, 0, 0, 0, 1, 64, 0x12, 0x14, 0, 1, 0, 0, 1, 64,
		4, 0x02, 0, 0, 0, 0, 1, 64, 0x14, 0x14, 0, 1, 0, 0, 1, 64,
		6, 0x02, 0, 0, 0, 0, 1, 64, 0x16, 0x14, 0, 1, 0, 0, 0xff, 64,
		9, 0x02, 0, 0, 0, 0, 1, 64, 0x19, 0x14, 0, 1, 0, 0, 1, 64,
	})
	// TLS alert then RST burst
	f.Add([]byte{
		0, 0x02, 0, 0, 0, 0, 1, 64,
		0x10, 0x12, 0, 1, 0, 0, 1, 52,
		0x10, 0x18, 1, 1, 0x2c, 0, 1, 52,
		0x10, 0x04, 4, 1, 0, 0, 1, 52,
		0x10, 0x04, 4, 1, 0, 0, 0, 52,
		0x10, 0x04, 4, 1, 0, 0, 0, 52,
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		const maxFlows = 3
		pk := fuzzPackets(data)
		var runs [2]struct {
			events []Event
			ended  []Flow
		}
		// The second table freezes every flow but one after each
		// packet: the same events and flow ends (freezer.go).
		for k, hot := range []int{0, 1} {
			r := &runs[k]
			tb := NewTable(Options{
				MaxFlows: maxFlows, MaxHosts: 3, HotFlows: hot,
				LookAhead: 40 * time.Millisecond, CloseEvict: 100 * time.Millisecond, IdleEvict: time.Second,
				OnEvent:   func(e *Event) { r.events = append(r.events, *e) },
				OnFlowEnd: func(f *Flow) { r.ended = append(r.ended, *f) },
			})
			for i := range pk {
				p := pk[i]
				tb.Add(&p)
				if n := tb.Stats().Active; n > maxFlows {
					t.Fatalf("frame %d: %d flows held, want <= %d", pk[i].Index, n, maxFlows)
				}
			}
			tb.Close()
			checkOneEventPerRST(t, pk, r.events)
			st := tb.Stats()
			if st.Events != uint64(len(r.events)) || st.Active != 0 {
				t.Errorf("stats: got %d events %d active, want %d, 0", st.Events, st.Active, len(r.events))
			}
		}
		if !reflect.DeepEqual(runs[0], runs[1]) {
			t.Errorf("HotFlows 1: %d events, %d flow ends differ from the all-hot table's %d, %d", len(runs[1].events), len(runs[1].ended), len(runs[0].events), len(runs[0].ended))
		}
	})
}
