package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rstscope/rstscope/pcaps/lab"
)

// The variation harness (issue 13: a rule must hold across the variations a
// real network makes, not only on the captures it was written from). Every
// lab capture with ground truth (pcaps/lab, scenarios.go's Truths) is
// rewritten in memory as another capture point, path, clock or stack would
// have recorded the same exchange, and judged again against the same truth.
// Each variation changes only what the truth does not hinge on (the lab's
// verdicts depend on who made each RST, never on these values), and says so
// where a capture allows it only in part.

// varCase is one lab capture under one variation.
type varCase struct {
	capture string // file name in pcaps/lab
	at      int    // the side the capture was taken on
	frames  []labFrame
	truths  []lab.Verdict
	rng     *rand.Rand
	args    []string // extra command line flags
}

// far is the side opposite the capture point.
func (c *varCase) far() int { return 1 - c.at }

// variation rewrites a case in place; it returns why it does not apply to
// this capture ("" when it applied).
type variation struct {
	name, what string
	apply      func(c *varCase) string
}

// initialTTLOf is the nearest common initial TTL at or above t.
func initialTTLOf(t uint8) int {
	for _, i := range []int{32, 64, 128} {
		if int(t) <= i {
			return i
		}
	}
	return 255
}

// hopShift moves the capture point k hops towards side: that side's packets
// arrive with k hops fewer (TTL +k), the other side's with k more. A RST a
// router forged moves with the side it claims: it travels the same way as
// that side's packets, from a router between the capture point and that
// side (else the capture could not see it). It applies where no TTL would
// pass its initial value: a router's RST seen with its initial TTL (0 hops)
// cannot get nearer without the capture point passing the router, which
// would then no longer see it.
func hopShift(toward, k int) func(c *varCase) string {
	return func(c *varCase) string {
		for i := range c.frames {
			f := &c.frames[i]
			n := int(f.ttl) - k
			if f.side == toward {
				n = int(f.ttl) + k
			}
			if n < 1 || n > initialTTLOf(f.ttl) {
				return fmt.Sprintf("frame %d: TTL %d would be %d", f.orig, f.ttl, n)
			}
			f.ttl = uint8(n)
		}
		return ""
	}
}

// fartherPath puts the far end h more hops away, beyond any router that
// forged a RST (whose TTL does not change): a longer path, as the internet
// has.
func fartherPath(h int) func(c *varCase) string {
	return func(c *varCase) string {
		for i := range c.frames {
			if f := &c.frames[i]; f.side == c.far() && !f.forged {
				if int(f.ttl) <= h {
					return fmt.Sprintf("frame %d: TTL %d", f.orig, f.ttl)
				}
				f.ttl -= uint8(h)
			}
		}
		return ""
	}
}

// otherStackTTL gives one end's stack another initial TTL (Windows' 128,
// a network OS's 255) on everything it sent itself; the routers that forged
// RSTs stay Linux (64). A socket's own TTL (GTSM's 255) is kept.
func otherStackTTL(far bool, initial int) func(c *varCase) string {
	return func(c *varCase) string {
		side := c.at
		if far {
			side = c.far()
		}
		for i := range c.frames {
			if f := &c.frames[i]; f.side == side && !f.forged && f.ttl <= 64 {
				f.ttl += uint8(initial - 64)
			}
		}
		return ""
	}
}

// scaleTime multiplies every gap by m. A conntrack idle timeout is an
// absolute: where the truth is idle_timeout, the router's timeout scales
// with the gaps, and --idle with them (the user sets --idle to the timeout
// in their path).
func scaleTime(m float64) func(c *varCase) string {
	return func(c *varCase) string {
		t0 := c.frames[0].time
		for i := range c.frames {
			f := &c.frames[i]
			f.time = t0.Add(time.Duration(float64(f.time.Sub(t0)) * m))
		}
		for _, v := range c.truths {
			if v.Cause == "idle_timeout" {
				c.args = append(c.args, "--idle", time.Duration(float64(5*time.Second)*m).String())
				break
			}
		}
		return ""
	}
}

// jitter moves every timestamp by up to ±j/2, keeping the capture's order
// (a timestamp never goes before the previous one).
func jitter(j time.Duration) func(c *varCase) string {
	return func(c *varCase) string {
		prev := time.Time{}
		for i := range c.frames {
			f := &c.frames[i]
			t := f.time.Add(time.Duration(c.rng.Int64N(int64(j))) - j/2)
			if t.Before(prev) {
				t = prev
			}
			f.time, prev = t, t
		}
		return ""
	}
}

// reorder swaps every pair of neighbouring packets of opposite directions
// that came within 100 µs of each other, as a capture point that merges
// two directions (a tap, a SPAN port, a multi-queue NIC) may see them; the
// timestamps stay in capture order.
func reorder(c *varCase) string {
	n := 0
	for i := 0; i+1 < len(c.frames); i++ {
		a, b := &c.frames[i], &c.frames[i+1]
		if a.side == b.side || b.time.Sub(a.time) > 100*time.Microsecond {
			continue
		}
		a.time, b.time = b.time, a.time
		*a, *b = *b, *a
		n++
		i++
	}
	if n == 0 {
		return "no packets of opposite directions within 100 µs"
	}
	return ""
}

// farther gives the far end a path d longer in round trip (a WAN instead
// of the lab's 0.1 ms), as a capture on the near end sees it: every packet
// of the far end is taken as the answer to the near end's latest packet,
// so each turn of the exchange adds d, and the near end's packets follow
// the far end's answers they see. A router's forged RST answers as soon as
// the trigger reaches it: it adds the share of d its hops make of the far
// end's (0 for a router next to the capture point). Idle gaps and timers
// keep their length.
func farther(d time.Duration) func(c *varCase) string {
	return func(c *varCase) string {
		farHops := -1
		for i := range c.frames {
			if f := &c.frames[i]; f.side == c.far() && !f.forged && !f.has(flagRST) {
				farHops = initialTTLOf(f.ttl) - int(f.ttl)
				break
			}
		}
		if farHops <= 0 {
			return "no packet of the far end to measure its distance"
		}
		var sNear, sFar time.Duration
		prev := time.Time{}
		for i := range c.frames {
			f := &c.frames[i]
			var s time.Duration
			switch {
			case f.forged:
				h := min(max(initialTTLOf(f.ttl)-int(f.ttl), 0), farHops)
				s = sNear + d*time.Duration(h)/time.Duration(farHops)
			case f.side == c.at:
				sNear = max(sNear, sFar)
				s = sNear
			default:
				sFar = max(sFar, sNear+d)
				s = sFar
			}
			t := f.time.Add(s)
			if t.Before(prev) {
				t = prev
			}
			f.time, prev = t, t
		}
		return ""
	}
}

// ipIDOffset starts each end's IP ID counter elsewhere (another boot,
// another host): a constant offset per end on everything it sent itself
// but IP ID 0 (Linux's DF packets without a counter).
func ipIDOffset(c *varCase) string {
	if c.frames[0].v6 {
		return "IPv6 has no IP ID"
	}
	off := [2]uint16{uint16(c.rng.IntN(60000) + 1000), uint16(c.rng.IntN(60000) + 1000)}
	for i := range c.frames {
		if f := &c.frames[i]; !f.forged && f.ipid != 0 {
			f.ipid += off[f.side]
		}
	}
	return ""
}

// ipIDRandom gives both ends a stack that numbers every packet at random
// (OpenBSD, or any stack behind an IP ID scrubber), RSTs included.
func ipIDRandom(c *varCase) string {
	if c.frames[0].v6 {
		return "IPv6 has no IP ID"
	}
	for i := range c.frames {
		if f := &c.frames[i]; !f.forged {
			f.ipid = uint16(c.rng.Uint32())
		}
	}
	return ""
}

// dirKey is one direction of one connection.
type dirKey struct{ src, dst netip.AddrPort }

func (f *labFrame) dir() dirKey {
	return dirKey{netip.AddrPortFrom(f.src, f.sport), netip.AddrPortFrom(f.dst, f.dport)}
}

func (k dirKey) reverse() dirKey { return dirKey{k.dst, k.src} }

// randomISN gives each direction of each connection another initial
// sequence number: its seq, the other side's ack and SACK blocks move by
// one offset. A RST forged in the name of a side carries seq and ack from
// the flow, so it moves as that side's packets do. A direction that never
// sent a SYN keeps its numbers (a RST answering a SYN has seq 0).
func randomISN(c *varCase) string {
	off := map[dirKey]uint32{}
	for i := range c.frames {
		if f := &c.frames[i]; f.has(flagSYN) {
			if _, ok := off[f.dir()]; !ok {
				off[f.dir()] = c.rng.Uint32()
			}
		}
	}
	for i := range c.frames {
		f := &c.frames[i]
		f.seq += off[f.dir()]
		if f.has(flagACK) {
			f.ack += off[f.dir().reverse()]
		}
		f.opts = moveSACK(f.opts, off[f.dir().reverse()])
	}
	return ""
}

// moveSACK returns opts with every SACK block edge moved by d (a copy when
// there is a block).
func moveSACK(opts []byte, d uint32) []byte {
	var out []byte
	for i := 0; i < len(opts); {
		kind := opts[i]
		if kind == 0 {
			break
		}
		if kind == 1 || i+1 >= len(opts) {
			i++
			continue
		}
		n := int(opts[i+1])
		if n < 2 || i+n > len(opts) {
			break
		}
		if kind == 5 && d != 0 {
			if out == nil {
				out = slices.Clone(opts)
			}
			for e := i + 2; e+4 <= i+n; e += 4 {
				v := uint32(out[e])<<24 | uint32(out[e+1])<<16 | uint32(out[e+2])<<8 | uint32(out[e+3])
				v += d
				out[e], out[e+1], out[e+2], out[e+3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
			}
		}
		i += n
	}
	if out == nil {
		return opts
	}
	return out
}

// noTimestamps strips the TCP timestamps option from every packet (a stack
// that does not use them: Windows by default).
func noTimestamps(c *varCase) string {
	for i := range c.frames {
		f := &c.frames[i]
		var kept []byte
		for j := 0; j < len(f.opts); {
			kind := f.opts[j]
			if kind == 0 {
				break
			}
			if kind == 1 || j+1 >= len(f.opts) {
				j++
				continue
			}
			n := int(f.opts[j+1])
			if n < 2 || j+n > len(f.opts) {
				break
			}
			if kind != 8 {
				kept = append(kept, f.opts[j:j+n]...)
			}
			j += n
		}
		for len(kept)%4 != 0 {
			kept = append([]byte{1}, kept...)
		}
		f.opts = kept
	}
	return ""
}

// snaplen cuts every frame n bytes into its TCP payload.
func snaplen(n int) func(c *varCase) string {
	return func(c *varCase) string {
		for i := range c.frames {
			c.frames[i].keep = n
		}
		return ""
	}
}

// snapFrame cuts every frame n bytes from its start, as tcpdump -s n
// does: Ethernet, IPv4 and TCP headers (options included) first, then what
// room is left for payload.
func snapFrame(n int) func(c *varCase) string {
	return func(c *varCase) string {
		for i := range c.frames {
			f := &c.frames[i]
			hdr := 14 + 20 + 20 + len(f.opts)
			if f.v6 {
				hdr += 20
			}
			if f.vlan {
				hdr += 4
			}
			if hdr > n {
				return fmt.Sprintf("frame %d: %d bytes of headers", f.orig, hdr)
			}
			f.keep = n - hdr
		}
		return ""
	}
}

// vlanTag adds an 802.1Q tag to every frame (a trunk port's capture).
func vlanTag(c *varCase) string {
	for i := range c.frames {
		c.frames[i].vlan, c.frames[i].tci = true, 77
	}
	return ""
}

// asIPv6 carries the same exchange over IPv6: 10.77.a.b becomes
// fd00:77:a::b (the lab's own IPv6 plan), TTL the hop limit; the IP ID and
// DF go, as IPv6 has neither.
func asIPv6(c *varCase) string {
	if c.frames[0].v6 {
		return "already IPv6"
	}
	six := func(a netip.Addr) netip.Addr {
		b := a.As4()
		return netip.AddrFrom16([16]byte{0xfd, 0, 0, 0x77, 0, b[2], 14: 0, 15: b[3]})
	}
	for i := range c.frames {
		f := &c.frames[i]
		f.v6, f.src, f.dst, f.ipid, f.frag = true, six(f.src), six(f.dst), 0, 0
	}
	return ""
}

// all applies several variations in turn.
func all(vs ...func(c *varCase) string) func(c *varCase) string {
	return func(c *varCase) string {
		for _, v := range vs {
			if why := v(c); why != "" {
				return why
			}
		}
		return ""
	}
}

var variations = []variation{
	{"as made", "the capture as the lab made it", func(*varCase) string { return "" }},
	{"hops +1 to server", "capture point 1 hop nearer the server (the client's packets 1 hop farther)", hopShift(sideServer, 1)},
	{"hops +2 to server", "capture point 2 hops nearer the server", hopShift(sideServer, 2)},
	{"hops +1 to client", "capture point 1 hop nearer the client", hopShift(sideClient, 1)},
	{"hops +2 to client", "capture point 2 hops nearer the client", hopShift(sideClient, 2)},
	{"far end +10 hops", "the far end 10 hops farther, beyond the routers that forge", fartherPath(10)},
	{"far end TTL 128", "the far end's stack sends with initial TTL 128 (Windows)", otherStackTTL(true, 128)},
	{"far end TTL 255", "the far end's stack sends with initial TTL 255 (a network OS)", otherStackTTL(true, 255)},
	{"near end TTL 128", "the capture host's stack sends with initial TTL 128", otherStackTTL(false, 128)},
	{"time x0.5", "every gap halved (--idle too where the truth is idle_timeout)", scaleTime(0.5)},
	{"time x2", "every gap doubled (--idle too where the truth is idle_timeout)", scaleTime(2)},
	{"time x10", "every gap x10 (--idle too where the truth is idle_timeout)", scaleTime(10)},
	{"jitter 200 µs", "every timestamp moved by up to ±100 µs, order kept", jitter(200 * time.Microsecond)},
	{"jitter 2 ms", "every timestamp moved by up to ±1 ms, order kept", jitter(2 * time.Millisecond)},
	{"reorder", "neighbouring packets of opposite directions within 100 µs swapped", reorder},
	{"far end +40 ms", "the far end 40 ms farther in round trip: each turn of the exchange 40 ms later, a router's RST by its share of the hops", farther(40 * time.Millisecond)},
	{"far end +40 ms, tap 1 hop in", "as far end +40 ms, the capture point 1 hop into the path", func(c *varCase) string {
		toward := sideServer
		if c.at == sideServer {
			toward = sideClient
		}
		return all(farther(40*time.Millisecond), hopShift(toward, 1))(c)
	}},
	{"IP ID offset", "each end's IP ID counter starts elsewhere (0 stays 0)", ipIDOffset},
	{"IP ID random", "both ends number every packet at random, RSTs included", ipIDRandom},
	{"ISN random", "each direction of each connection starts at another sequence number", randomISN},
	{"no timestamps", "the TCP timestamps option stripped from every packet", noTimestamps},
	{"snaplen 0", "every frame cut at the end of its TCP header", snaplen(0)},
	{"snaplen 64", "every frame cut 64 bytes into its TCP payload", snaplen(64)},
	{"tcpdump -s 96", "every frame cut 96 bytes from its start, as tcpdump -s 96 does (30 bytes of payload behind Ethernet, IPv4 and TCP with timestamps)", snapFrame(96)},
	{"VLAN", "an 802.1Q tag on every frame", vlanTag},
	{"IPv6", "IPv4 captures carried over IPv6", asIPv6},
	{"other stack far away", "the far end 10 hops farther with initial TTL 128, random IP IDs and ISNs, no timestamps, 2 ms jitter",
		all(fartherPath(10), otherStackTTL(true, 128), ipIDRandom, randomISN, noTimestamps, jitter(2*time.Millisecond))},
	{"mid-path tap", "capture point 1 hop into the path, opposite directions reordered within 100 µs, 200 µs jitter",
		func(c *varCase) string {
			toward := sideServer
			if c.at == sideServer {
				toward = sideClient
			}
			return all(hopShift(toward, 1), func(c *varCase) string { reorder(c); return "" }, jitter(200*time.Microsecond))(c)
		}},
}

// labCase is a capture with its truth, ready for variations.
type labCase struct {
	source  string // lab or generator
	capture string // path
	at      int
	frames  []labFrame
	truths  []lab.Verdict
	truthOf map[int]int // original RST frame -> index in truths
}

// loadLabCases reads every lab capture with at least one RST, and every
// generator capture of golden_test.go's expectation table, and ties each
// RST frame to its truth through rstscope's verdicts on the capture as
// made (TestCalibration holds those right): the frames of a finding whose
// true origin is a middlebox are marked forged. A generator capture is
// taken on the client (its packets leave with their initial TTL there).
func loadLabCases(t *testing.T) []labCase {
	t.Helper()
	var out []labCase
	add := func(source, path string, at int, truths []lab.Verdict, frames []uint64) {
		fs, err := readLabCapture(path)
		if err != nil {
			t.Fatal(err)
		}
		d := runJSON(t, "-r", path)
		if len(d.Findings) != len(truths) {
			t.Fatalf("%s: %d findings, the truth has %d", path, len(d.Findings), len(truths))
		}
		lc := labCase{source: source, capture: path, at: at, frames: fs, truths: truths, truthOf: map[int]int{}}
		assignSides(lc.frames)
		for i, f := range d.Findings {
			if frames != nil && f.RST.Packet != frames[i] {
				t.Fatalf("%s: finding %d at frame %d, the truth's at %d", path, i+1, f.RST.Packet, frames[i])
			}
			for _, fr := range f.frames() {
				lc.truthOf[int(fr)] = i
				if truths[i].Origin == "middlebox" {
					lc.frames[fr-1].forged = true
				}
			}
		}
		for i := range lc.frames {
			if f := &lc.frames[i]; f.forged && !f.has(flagRST) {
				t.Fatalf("%s frame %d: a forged packet that is not a RST", path, f.orig)
			}
		}
		out = append(out, lc)
	}
	for _, tr := range lab.Truths() {
		if len(tr.Findings) == 0 {
			continue
		}
		at := sideClient
		if strings.HasSuffix(tr.Capture, ".server.pcap") {
			at = sideServer
		}
		add("lab", filepath.Join("pcaps", "lab", tr.Capture), at, tr.Findings, nil)
	}
	for _, name := range slices.Sorted(maps.Keys(expectations)) {
		es := slices.Clone(expectations[name])
		slices.SortFunc(es, func(a, b expect) int { return cmp.Compare(a.frame, b.frame) })
		var truths []lab.Verdict
		var frames []uint64
		for _, e := range es {
			truths = append(truths, lab.Verdict{Cause: e.cause, Origin: e.origin})
			frames = append(frames, e.frame)
		}
		add("generator", filepath.Join("pcaps", name), sideClient, truths, frames)
	}
	return out
}

// assignSides sets each frame's side: per connection, the sender of the
// SYN is the client; without a SYN, the side on the higher port.
func assignSides(frames []labFrame) {
	client := map[dirKey]netip.AddrPort{}
	conn := func(f *labFrame) dirKey {
		k := f.dir()
		if k.dst.Addr().Less(k.src.Addr()) || (k.dst.Addr() == k.src.Addr() && k.dst.Port() < k.src.Port()) {
			k = k.reverse()
		}
		return k
	}
	for i := range frames {
		if f := &frames[i]; f.has(flagSYN) && !f.has(flagACK) {
			if _, ok := client[conn(f)]; !ok {
				client[conn(f)] = f.dir().src
			}
		}
	}
	for i := range frames {
		f := &frames[i]
		c, ok := client[conn(f)]
		switch {
		case ok && c == f.dir().src:
			f.side = sideClient
		case ok:
			f.side = sideServer
		case f.sport > f.dport:
			f.side = sideClient
		default:
			f.side = sideServer
		}
	}
}

// varTally counts verdicts of one confidence level.
type varTally struct{ verdicts, right int }

// varRow is one variation's line of the table.
type varRow struct {
	name, what        string
	captures, skipped int
	by                map[string]*varTally
	knownWrong        int
	wrongHigh         int
	lost, unmatched   int
}

// varWrong is one wrong verdict under a variation.
type varWrong struct {
	variation, capture string
	frame              uint64
	got                finding
	want               lab.Verdict
	over               bool
}

func (w varWrong) String() string {
	s := fmt.Sprintf("%s: %s frame %d: %s/%s %s, correct %s/%s", w.variation, w.capture, w.frame,
		w.got.Cause, w.got.Origin, w.got.Confidence, w.want.Cause, w.want.Origin)
	if w.over {
		s += ", at most " + w.want.MaxConfidence
	}
	return s + ": " + w.got.Summary
}

// TestVariations re-judges every lab capture under each variation against
// the lab's truth. A verdict must be right (cause and origin), or say so
// with its confidence: a wrong `high` fails, and so does a confidence above
// the capture's cap, an RST left without a finding, and `medium` right less
// than 90 % of the time over all variations (as TestCalibration). The table
// it prints is the README's variations section (-update rewrites it).
// RSTSCOPE_VARIATIONS_DIR=dir saves every rewritten capture there, to look
// at a failing one with tcpdump or rstscope.
func TestVariations(t *testing.T) {
	if testing.Short() {
		t.Skip("runs rstscope on every lab capture under every variation; skipped with -short")
	}
	cases := loadLabCases(t)
	levels := []string{"high", "medium", "low"}
	var rows []*varRow
	var wrongs []varWrong
	total := map[string]*varTally{}
	for _, l := range levels {
		total[l] = &varTally{}
	}
	for vi, v := range variations {
		row := &varRow{name: v.name, what: v.what, by: map[string]*varTally{}}
		for _, l := range levels {
			row.by[l] = &varTally{}
		}
		rows = append(rows, row)
		for ci, lc := range cases {
			c := &varCase{capture: lc.capture, at: lc.at, frames: slices.Clone(lc.frames), truths: lc.truths,
				rng: rand.New(rand.NewPCG(uint64(vi), uint64(ci)))}
			if why := v.apply(c); why != "" {
				row.skipped++
				continue
			}
			row.captures++
			pcap := labPcap(c.frames)
			if dir := os.Getenv("RSTSCOPE_VARIATIONS_DIR"); dir != "" {
				name := strings.NewReplacer(" ", "_", "+", "", ".", "_", "µ", "u").Replace(v.name) + "." + filepath.Base(lc.capture)
				if err := os.WriteFile(filepath.Join(dir, name), pcap, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			d := judgeBytes(t, pcap, c.args...)
			covered := make([]bool, len(lc.truths))
			for _, f := range d.Findings {
				ti := -1
				for _, fr := range f.frames() {
					if fr >= 1 && int(fr) <= len(c.frames) {
						if i, ok := lc.truthOf[c.frames[fr-1].orig]; ok {
							ti = i
							break
						}
					}
				}
				if ti < 0 {
					row.unmatched++
					t.Errorf("%s: %s: finding at frame %d (%s/%s %s) answers no RST of the capture as made",
						v.name, lc.capture, f.RST.Packet, f.Cause, f.Origin, f.Confidence)
					continue
				}
				covered[ti] = true
				want := lc.truths[ti]
				right := (want.Cause == "" || f.Cause == want.Cause) && (want.Origin == "" || f.Origin == want.Origin)
				over := want.MaxConfidence != "" && confRank[f.Confidence] > confRank[want.MaxConfidence]
				tl, ok := row.by[f.Confidence]
				if !ok {
					t.Errorf("%s: %s frame %d: confidence %q is not a level", v.name, lc.capture, f.RST.Packet, f.Confidence)
					continue
				}
				if want.KnownWrong != "" {
					row.knownWrong++
					continue
				}
				tl.verdicts++
				total[f.Confidence].verdicts++
				if right {
					tl.right++
					total[f.Confidence].right++
				}
				if !right || over {
					w := varWrong{v.name, lc.capture, f.RST.Packet, f, want, over}
					wrongs = append(wrongs, w)
					if f.Confidence == "high" || over {
						row.wrongHigh++
						t.Errorf("wrong %s verdict: %s", f.Confidence, w)
					}
				}
			}
			for ti, ok := range covered {
				if !ok {
					row.lost++
					t.Errorf("%s: %s: no finding for the RST judged %s/%s as made", v.name, lc.capture, lc.truths[ti].Cause, lc.truths[ti].Origin)
				}
			}
		}
	}

	var b strings.Builder
	nlab := 0
	for _, lc := range cases {
		if lc.source == "lab" {
			nlab++
		}
	}
	fmt.Fprintf(&b, "%d captures with RSTs (%d from the lab, %d from the generator), each rewritten %d ways and judged against its truth (`go test -run TestVariations`, variations_test.go).\n\n",
		len(cases), nlab, len(cases)-nlab, len(variations))
	b.WriteString("| variation | captures | not applicable | high right/verdicts | medium right/verdicts | low right/verdicts | wrong high or over cap |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %d | %d |", r.name, r.captures, r.skipped)
		for _, l := range levels {
			fmt.Fprintf(&b, " %d/%d |", r.by[l].right, r.by[l].verdicts)
		}
		fmt.Fprintf(&b, " %d |\n", r.wrongHigh)
	}
	fmt.Fprintf(&b, "| all | | |")
	for _, l := range levels {
		fmt.Fprintf(&b, " %d/%d (%s) |", total[l].right, total[l].verdicts, percent(total[l].right, total[l].verdicts))
	}
	b.WriteString(" |\n\nVariations:\n\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "- %s: %s\n", r.name, r.what)
	}
	if len(wrongs) > 0 {
		b.WriteString("\nWrong cause or origin below high:\n\n")
		for _, w := range wrongs {
			if w.got.Confidence != "high" && !w.over {
				fmt.Fprintf(&b, "- %s: `%s` frame %d: %s/%s %s, correct %s/%s\n", w.variation, w.capture, w.frame,
					w.got.Cause, w.got.Origin, w.got.Confidence, w.want.Cause, w.want.Origin)
			}
		}
	}
	table := b.String()
	t.Logf("variations:\n%s", table)
	for _, w := range wrongs {
		if w.got.Confidence != "high" && !w.over {
			t.Logf("wrong %s verdict (allowed): %s", w.got.Confidence, w)
		}
	}
	if m := total["medium"]; m.verdicts > 0 && m.right*10 < m.verdicts*9 {
		t.Errorf("medium: right %d of %d (%s), want at least 90 %%", m.right, m.verdicts, percent(m.right, m.verdicts))
	}
	checkReadmeSection(t, "variations", table)
}

// judgeBytes runs rstscope --format json on an in-memory capture.
func judgeBytes(t *testing.T, pcap []byte, args ...string) doc {
	t.Helper()
	code, out, errs := runCLI(t, bytes.NewReader(pcap), append([]string{"-r", "-", "--format", "json"}, args...)...)
	if code != 0 {
		t.Fatalf("rstscope -r - %v: exit %d, stderr: %s", args, code, errs)
	}
	var d doc
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("rstscope -r - %v: bad JSON: %v", args, err)
	}
	return d
}

// TestLabRewrite_identity: decoding a lab capture and writing it back gives
// the same frames, so that what a variation changes is all that changes.
func TestLabRewrite_identity(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join("pcaps", "lab", "*.pcap"))
	if len(paths) == 0 {
		t.Fatal("no lab captures")
	}
	for _, path := range paths {
		frames, err := readLabCapture(path)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		orig, err := pcapRecords(b)
		if err != nil {
			t.Fatal(err)
		}
		again, err := pcapRecords(labPcap(frames))
		if err != nil {
			t.Fatalf("%s written back: %v", path, err)
		}
		if len(again) != len(orig) {
			t.Fatalf("%s: %d frames written back, want %d", path, len(again), len(orig))
		}
		for i := range again {
			if !bytes.Equal(again[i].data, orig[i].data) || !again[i].time.Equal(orig[i].time) {
				t.Fatalf("%s frame %d: written back as %v\n%x\nwant %v\n%x", path, i+1,
					again[i].time, again[i].data, orig[i].time, orig[i].data)
			}
		}
	}
}

// varJudge rewrites one lab capture with one variation (by name) and judges it.
func varJudge(t *testing.T, capture, name string) doc {
	t.Helper()
	vi := slices.IndexFunc(variations, func(v variation) bool { return v.name == name })
	if vi < 0 {
		t.Fatalf("no variation %q", name)
	}
	for ci, lc := range loadLabCases(t) {
		if filepath.Base(lc.capture) != capture {
			continue
		}
		c := &varCase{capture: lc.capture, at: lc.at, frames: slices.Clone(lc.frames), truths: lc.truths,
			rng: rand.New(rand.NewPCG(uint64(vi), uint64(ci)))}
		if why := variations[vi].apply(c); why != "" {
			t.Fatalf("%s: %s does not apply: %s", capture, name, why)
		}
		return judgeBytes(t, labPcap(c.frames), c.args...)
	}
	t.Fatalf("no lab capture %s with RSTs", capture)
	return doc{}
}

// TestVariations_refusedSYNAfterRST: a capture point that merges two
// directions recorded the RST+ACK of a refusal 30-60 µs before the SYN it
// answers. Its ack is the SYN's seq + 1, which no stack can send before
// the SYN: still a refusal (it was unknown, low), by the server or, 0 hops
// from the client, by a firewall there.
func TestVariations_refusedSYNAfterRST(t *testing.T) {
	for _, tc := range []struct{ capture, origin string }{
		{"refused_closed_port.client.pcap", "server"},
		{"refused_closed_port.server.pcap", "server"},
		{"refused_lone_closed_port.server.pcap", "server"},
		{"refused_lone_firewall.client.pcap", "middlebox"},
		{"refused_firewall_reject.client.pcap", "middlebox"},
		{"refused_closed_port_v6.server.pcap", "server"},
	} {
		d := varJudge(t, tc.capture, "reorder")
		if len(d.Findings) != 1 {
			t.Fatalf("%s reordered: %d findings, want 1", tc.capture, len(d.Findings))
		}
		f := d.Findings[0]
		if f.Cause != "refused" || f.Origin != tc.origin {
			t.Errorf("%s reordered: %s/%s %s, want refused/%s: %s", tc.capture, f.Cause, f.Origin, f.Confidence, tc.origin, f.Summary)
		}
		said := false
		for _, e := range f.Evidence {
			said = said || (e.Signal == "syn_answered_by_rst" && strings.Contains(e.Detail, "out of order"))
		}
		if !said {
			t.Errorf("%s reordered: no syn_answered_by_rst evidence saying the SYN was recorded out of order: %+v", tc.capture, f.Evidence)
		}
	}
}

// TestVariations_shortKeepaliveTimer: tls_close_notify_late_write with
// every gap halved is a server whose keep-alive timer closes (close_notify,
// FIN) 150 ms after its response, and a client writing 350 ms after that
// FIN. The client's request was answered, so it was no upload cut short;
// its write came long after the FIN reached it (RTT 0.1 ms), so it did not
// cross the FIN: stale_keepalive (it was abortive_close, both thresholds
// being the reply window's 200 ms floor rather than the flow's).
func TestVariations_shortKeepaliveTimer(t *testing.T) {
	for _, capture := range []string{"tls_close_notify_late_write.client.pcap", "tls_close_notify_late_write.server.pcap"} {
		d := varJudge(t, capture, "time x0.5")
		if len(d.Findings) != 1 {
			t.Fatalf("%s halved: %d findings, want 1", capture, len(d.Findings))
		}
		if f := d.Findings[0]; f.Cause != "stale_keepalive" || f.Origin != "server" || !f.hasSignal("fin_then_data") {
			t.Errorf("%s halved: %s/%s %s, want stale_keepalive/server with fin_then_data: %s", capture, f.Cause, f.Origin, f.Confidence, f.Summary)
		}
	}
}

// TestVariations_staleKeepaliveDataAfterRST: at the server the client's
// late write and the server kernel's RST answering it cross within 100 µs;
// a capture point that merges directions may record the RST first. A RST
// without ACK whose seq is the next segment's ack answers that segment:
// still stale_keepalive (it was abortive_close, "reset after its own FIN").
func TestVariations_staleKeepaliveDataAfterRST(t *testing.T) {
	for _, capture := range []string{"stale_keepalive.server.pcap", "tls_close_notify_late_write.server.pcap"} {
		d := varJudge(t, capture, "reorder")
		if len(d.Findings) != 1 {
			t.Fatalf("%s reordered: %d findings, want 1", capture, len(d.Findings))
		}
		f := d.Findings[0]
		said := false
		for _, e := range f.Evidence {
			said = said || (e.Signal == "fin_then_data" && strings.Contains(e.Detail, "swapped"))
		}
		if f.Cause != "stale_keepalive" || f.Origin != "server" || !said {
			t.Errorf("%s reordered: %s/%s %s, want stale_keepalive/server with fin_then_data saying the capture swapped the two: %s",
				capture, f.Cause, f.Origin, f.Confidence, f.Summary)
		}
	}
}

// TestVariations_echoRecordedBeforeItsTrigger: the kernel RST that echoes a
// forged reset answers the peer's late packet within 100 µs; a capture
// point that merges directions may record it first. It is still the echo
// (after_reset, pointing at the forged RST's finding), not client_abort
// or abortive_close.
func TestVariations_echoRecordedBeforeItsTrigger(t *testing.T) {
	for _, tc := range []struct{ capture, origin string }{
		{"forged_rst_echo.client.pcap", "client"},
		{"middlebox_response_reject_r1.server.pcap", "server"},
		{"middlebox_response_reject_r2.server.pcap", "server"},
		{"middlebox_response_reject_r3.server.pcap", "server"},
	} {
		d := varJudge(t, tc.capture, "reorder")
		if len(d.Findings) != 2 {
			t.Fatalf("%s reordered: %d findings, want 2", tc.capture, len(d.Findings))
		}
		first, echo := d.Findings[0], d.Findings[1]
		if first.Origin != "middlebox" || echo.Cause != "after_reset" || echo.Origin != tc.origin || echo.ConsequenceOf != first.ID {
			t.Errorf("%s reordered: %s/%s then %s/%s (consequence of %d), want a middlebox's RST then its echo after_reset/%s: %s",
				tc.capture, first.Cause, first.Origin, echo.Cause, echo.Origin, echo.ConsequenceOf, tc.origin, echo.Summary)
		}
	}
}

// TestVariations_tlsAlertCutBySnaplen: cut 64 bytes into each payload, the
// server's certificate records lose their headers and the record tracking
// stops before the fatal alert. The verdict cannot be tls_alert; it must
// say that an alert could have gone unseen and stay below high.
func TestVariations_tlsAlertCutBySnaplen(t *testing.T) {
	for _, capture := range []string{"tls_alert_missing_cert.client.pcap", "tls_alert_missing_cert.server.pcap"} {
		d := varJudge(t, capture, "snaplen 64")
		if len(d.Findings) != 1 {
			t.Fatalf("%s cut: %d findings, want 1", capture, len(d.Findings))
		}
		f := d.Findings[0]
		said := false
		for _, e := range f.Evidence {
			said = said || strings.Contains(e.Detail, "tls_alert could not be ruled out")
		}
		if f.Confidence == "high" || !said {
			t.Errorf("%s cut: %s/%s %s, want at most medium and a note that an alert could not be seen: %+v", capture, f.Cause, f.Origin, f.Confidence, f.Evidence)
		}
	}
}

// cutNote is the evidence note rstscope gives for a direction whose data
// packets the snaplen cut, counted from the capture itself: cut of them
// (data: non-RST frames of that side with payload) cut, then what follows.
func cutNote(t *testing.T, capture string, side int, cut func(data int) int, what string) string {
	t.Helper()
	frames, err := readLabCapture(filepath.Join("pcaps", "lab", capture))
	if err != nil {
		t.Fatal(err)
	}
	assignSides(frames)
	data := 0
	for _, f := range frames {
		if f.side == side && len(f.payload) > 0 && !f.has(flagRST) {
			data++
		}
	}
	return fmt.Sprintf("%d of %d data packets from the %s were cut by the capture's snaplen: %s", cut(data), data, []string{"client", "server"}[side], what)
}

// TestVariations_payloadCutBySnaplen: cut at the end of the TCP header
// (tcpdump -s with no room for payload), a fatal TLS alert followed by the
// server's FIN and the client's late close_notify looks like a stale
// keep-alive, and a client that stopped reading mid-response like one
// that closed after a finished exchange. The card says how many data
// packets of each side were cut and what could not be read, and a verdict
// that rests on there being no alert (stale_keepalive, abortive_close) is
// low. Where the cut leaves each segment's start (64 bytes of an HTTP
// exchange), nothing that decides a cause was hidden: the note says so
// and the verdict keeps its confidence.
func TestVariations_payloadCutBySnaplen(t *testing.T) {
	all := func(n int) int { return n }
	for _, tc := range []struct {
		capture, variation string
		cause, origin      string
		confidence         string
		notes              []string
	}{
		{"tls_alert_version_close_notify.client.pcap", "snaplen 0", "stale_keepalive", "server", "low", []string{
			cutNote(t, "tls_alert_version_close_notify.client.pcap", sideClient, all, "its request and any TLS alert could not be read, so tls_alert could not be ruled out"),
			cutNote(t, "tls_alert_version_close_notify.client.pcap", sideServer, all, "its response and any TLS alert could not be read"),
		}},
		{"tls_alert_version_close_notify.server.pcap", "snaplen 0", "stale_keepalive", "server", "low", []string{
			cutNote(t, "tls_alert_version_close_notify.server.pcap", sideClient, all, "its request and any TLS alert could not be read"),
		}},
		{"client_abort_mid_response.client.pcap", "snaplen 0", "abortive_close", "client", "low", []string{
			cutNote(t, "client_abort_mid_response.client.pcap", sideServer, all, "its response and any TLS alert could not be read"),
		}},
		// tcpdump -s 96 leaves 30 bytes of each payload: the status line,
		// not the Content-Length that showed the response unfinished.
		{"client_abort_mid_response.server.pcap", "tcpdump -s 96", "abortive_close", "client", "low", []string{
			cutNote(t, "client_abort_mid_response.server.pcap", sideServer, all, "its response's length (the header block was cut before its end) could not be read, so whether its response was complete could not be checked"),
		}},
		{"stale_keepalive.client.pcap", "snaplen 64", "stale_keepalive", "server", "high", []string{
			"from the server were cut by the capture's snaplen: only their tails were lost",
		}},
	} {
		d := varJudge(t, tc.capture, tc.variation)
		if len(d.Findings) != 1 {
			t.Fatalf("%s %s: %d findings, want 1", tc.capture, tc.variation, len(d.Findings))
		}
		f := d.Findings[0]
		if f.Cause != tc.cause || f.Origin != tc.origin || f.Confidence != tc.confidence {
			t.Errorf("%s %s: got %s/%s %s, want %s/%s %s: %s", tc.capture, tc.variation, f.Cause, f.Origin, f.Confidence,
				tc.cause, tc.origin, tc.confidence, f.Summary)
		}
		for _, want := range tc.notes {
			said := false
			for _, e := range f.Evidence {
				said = said || (e.Signal == "note" && strings.Contains(e.Detail, want))
			}
			if !said {
				t.Errorf("%s %s: no note %q in %+v", tc.capture, tc.variation, want, f.Evidence)
			}
		}
	}
	// As made, nothing was cut: no such note, and the TLS alert is found.
	d := runJSON(t, "-r", filepath.Join("pcaps", "lab", "tls_alert_version_close_notify.client.pcap"))
	for _, f := range d.Findings {
		for _, e := range f.Evidence {
			if strings.Contains(e.Detail, "snaplen") {
				t.Errorf("as made: frame %d: note %q on a capture that cut nothing", f.RST.Packet, e.Detail)
			}
		}
		if f.Cause != "tls_alert" {
			t.Errorf("as made: frame %d: %s, want tls_alert", f.RST.Packet, f.Cause)
		}
	}
}
