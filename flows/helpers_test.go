package flows

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rstscope/rstscope/capture"
)

var (
	t0         = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cliAddr    = netip.MustParseAddrPort("10.0.0.1:40000")
	srvAddr    = netip.MustParseAddrPort("10.0.0.2:443")
	defaultTTL = map[byte]uint8{'C': 64, 'S': 52}
)

// ladder builds packets between cliAddr and srvAddr from lines such as
// "C>S S seq=100", "S>C SA seq=300 ack=101", "C>S PA seq=101 ack=301 len=20".
// See ladderAt.
func ladder(t testing.TB, lines ...string) []capture.Packet {
	t.Helper()
	return ladderAt(t, cliAddr, srvAddr, lines...)
}

// ladderAt builds packets between c and s. Each line is "C>S" or "S>C",
// the flags (letters S A R F P, or "." for none) and optional key=value
// tokens: seq, ack, win, len (payload of that many zero bytes), ttl, id
// (IP ID), ts (TSval: adds the timestamps option), t (time offset from t0,
// a Go duration, e.g. t=1.5s; default: previous + 1ms), mss, ws. Frames
// are numbered from 1. Default TTL: 64 from C, 52 from S; default IP IDs
// count up per side from 1000 (C) and 5000 (S); default window 1000.
func ladderAt(t testing.TB, c, s netip.AddrPort, lines ...string) []capture.Packet {
	t.Helper()
	out := make([]capture.Packet, 0, len(lines))
	ids := map[byte]uint16{'C': 1000, 'S': 5000}
	at := time.Duration(0)
	for i, line := range lines {
		f := strings.Fields(line)
		if len(f) < 2 || len(f[0]) != 3 || f[0][1] != '>' {
			t.Fatalf("ladder line %d %q: want \"C>S FLAGS ...\"", i+1, line)
		}
		from := f[0][0]
		p := capture.Packet{Index: uint64(i + 1), Window: 1000}
		switch f[0] {
		case "C>S":
			p.Src, p.Dst = c, s
		case "S>C":
			p.Src, p.Dst = s, c
		default:
			t.Fatalf("ladder line %d %q: bad direction", i+1, line)
		}
		for _, ch := range f[1] {
			switch ch {
			case 'S':
				p.Flags |= capture.SYN
			case 'A':
				p.Flags |= capture.ACK
			case 'R':
				p.Flags |= capture.RST
			case 'F':
				p.Flags |= capture.FIN
			case 'P':
				p.Flags |= capture.PSH
			case '.':
			default:
				t.Fatalf("ladder line %d %q: bad flag %q", i+1, line, ch)
			}
		}
		p.TTL = defaultTTL[from]
		p.IPID = ids[from]
		ids[from]++
		at += time.Millisecond
		for _, kv := range f[2:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				t.Fatalf("ladder line %d %q: bad token %q", i+1, line, kv)
			}
			if k == "t" {
				d, err := time.ParseDuration(v)
				if err != nil {
					t.Fatalf("ladder line %d: %v", i+1, err)
				}
				at = d
				continue
			}
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				t.Fatalf("ladder line %d %q: %v", i+1, line, err)
			}
			switch k {
			case "seq":
				p.Seq = uint32(n)
			case "ack":
				p.Ack = uint32(n)
			case "win":
				p.Window = uint16(n)
			case "len":
				p.Len = int(n)
				p.Payload = make([]byte, n)
			case "ttl":
				p.TTL = uint8(n)
			case "id":
				p.IPID = uint16(n)
			case "ts":
				p.Opts.HasTS, p.Opts.TSVal = true, uint32(n)
			case "mss":
				p.Opts.HasMSS, p.Opts.MSS = true, uint16(n)
			case "ws":
				p.Opts.HasWScale, p.Opts.WScale = true, uint8(n)
			default:
				t.Fatalf("ladder line %d %q: unknown key %q", i+1, line, k)
			}
		}
		p.Time = t0.Add(at)
		out = append(out, p)
	}
	return out
}

// withPayload sets p's payload (and wire length) to b.
func withPayload(p *capture.Packet, b []byte) {
	p.Payload = b
	p.Len = len(b)
}

// result is what run collects.
type result struct {
	events []Event
	ended  []Flow
	table  *Table
}

// run feeds pkts to a new table with opts and closes it.
func run(t testing.TB, opts Options, pkts []capture.Packet) result {
	t.Helper()
	var r result
	opts.OnEvent = func(e *Event) { r.events = append(r.events, *e) }
	opts.OnFlowEnd = func(f *Flow) { r.ended = append(r.ended, *f) }
	r.table = NewTable(opts)
	for i := range pkts {
		r.table.Add(&pkts[i])
	}
	r.table.Close()
	return r
}

// one returns the only event, failing otherwise.
func (r result) one(t testing.TB) *Event {
	t.Helper()
	if len(r.events) != 1 {
		t.Fatalf("got %d events, want 1", len(r.events))
	}
	return &r.events[0]
}

// handshake is a complete handshake: client ISN 100, server ISN 300.
var handshake = []string{
	"C>S S seq=100",
	"S>C SA seq=300 ack=101",
	"C>S A seq=101 ack=301",
}

func lines(groups ...[]string) []string {
	var out []string
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}
