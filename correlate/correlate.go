package correlate

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/rstscope/rstscope/capture"
	"github.com/rstscope/rstscope/flows"
	"github.com/rstscope/rstscope/heuristics"
)

// coverTail is how long after the peer capture's last packet it is still
// taken to be running: a pcap file does not record when its capture
// stopped, and a quiet peer (every packet of a refused SYN lost on the way)
// ends with its last packet long before the main capture's reset.
const coverTail = time.Minute

// Where an endpoint sits: near the main capture or near the peer's.
type place uint8

const (
	placeUnknown place = iota
	placeMain
	placePeer
)

// mpkt is one packet of the event's flow in the main capture.
type mpkt struct {
	t      int64
	frame  uint64
	dir    flows.Dir
	flags  capture.TCPFlags
	seq    uint32
	ack    uint32
	n      int
	ttl    uint8
	hasTS  bool
	tsval  uint32
	rst    bool // one of the event's RSTs
	before bool // from the ladder (before the first RST)
}

// clock is the estimated alignment of the two captures.
type clock struct {
	kind    string // two_way, one_way, none
	offset  int64  // t(peer) - t(main), ns
	delay   int64  // one-way delay, ns
	samples int
}

// toPeer gives the expected peer time of a packet seen in the main capture
// at t, sent from the side at from.
func (k clock) toPeer(t int64, from place) int64 {
	if from == placePeer {
		return t + k.offset - k.delay
	}
	return t + k.offset + k.delay
}

// tol is how far a matched packet's time may be from the expected one.
func (k clock) tol() int64 {
	d := k.delay
	if d < 0 {
		d = -d
	}
	base := int64(time.Second)
	if k.kind != "two_way" {
		base = 2 * int64(time.Second)
	}
	return base + 4*d
}

// edge is the margin kept at the ends of the main capture's view of a
// flow when looking for packets it should have seen: the clock's
// uncertainty, small once both directions were matched.
func (k clock) edge() int64 {
	d := k.delay
	if d < 0 {
		d = -d
	}
	if k.kind == "two_way" {
		return int64(10*time.Millisecond) + 2*d
	}
	return int64(200*time.Millisecond) + 2*d
}

// estimate aligns the clocks from samples (see the package doc).
func estimate(ss []sample) clock {
	var d1, d2 []int64
	for _, s := range ss {
		if s.toPeer {
			d1 = append(d1, s.d)
		} else {
			d2 = append(d2, s.d)
		}
	}
	k := clock{kind: "none", samples: len(ss)}
	switch {
	case len(d1) > 0 && len(d2) > 0:
		m1, m2 := median(d1), median(d2)
		k.kind, k.offset, k.delay = "two_way", (m1-m2)/2, (m1+m2)/2
	case len(d1) > 0:
		k.kind, k.delay = "one_way", median(d1)
	case len(d2) > 0:
		k.kind, k.delay = "one_way", median(d2)
	}
	return k
}

func median(v []int64) int64 {
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// match is the event's flow found in the peer capture.
type match struct {
	fl *peerFlow
	by string
	// side[d-1] is the peer flow's end (0 or 1) for main direction d.
	side [2]uint8
	// dseq[d-1] is what a NAT added to direction d's sequence numbers
	// (peer = main + dseq); zero unless matched by payload.
	dseq [2]uint32
}

// packets gathers the event's flow packets in the main capture: the
// ladder, the RSTs and what followed, each frame once.
func packets(ev *flows.Event) []mpkt {
	var out []mpkt
	add := func(e flows.LadderEntry, rst, before bool) {
		out = append(out, mpkt{t: e.Time.UnixNano(), frame: e.Frame, dir: e.Dir, flags: e.Flags,
			seq: uint32(e.Seq), ack: uint32(e.Ack), n: e.Len, ttl: e.TTL, hasTS: e.HasTS, tsval: e.TSVal,
			rst: rst, before: before})
	}
	for _, p := range ev.Packets() {
		// A later RST of the sender that opened its own event (another
		// TTL) still counts as the sender's RST here.
		rst := p.RST || p.After && p.Flags&capture.RST != 0 && p.Dir == ev.Sender()
		add(p.LadderEntry, rst, !p.RST && !p.After)
	}
	return out
}

// find looks the event's flow up in the peer capture.
func (c *Peer) find(ev *flows.Event, pk []mpkt, guess clock) (match, bool) {
	fl := &ev.Flow
	start := fl.Start.UnixNano()
	pick := func(idxs []int32, ok func(*peerFlow) (match, bool)) (match, bool) {
		var best match
		var bestDist int64
		found := false
		for _, i := range idxs {
			m, good := ok(&c.flows[i])
			if !good {
				continue
			}
			dist := m.fl.first - (start + guess.offset)
			if dist < 0 {
				dist = -dist
			}
			if !found || dist < bestDist {
				best, bestDist, found = m, dist, true
			}
		}
		return best, found
	}
	// ISNs: either side's, checked against the other's when both are known
	for d := flows.FromClient; d <= flows.FromServer; d++ {
		pr := fl.Profile(d)
		if !pr.SYNSeen {
			continue
		}
		other := fl.Profile(d.Reverse())
		m, ok := pick(c.byISN[uint32(pr.ISN)], func(pf *peerFlow) (match, bool) {
			for s := range pf.ends {
				e, o := &pf.ends[s], &pf.ends[1-s]
				if !e.hasISN || e.isn != uint32(pr.ISN) {
					continue
				}
				if other.SYNSeen && o.hasISN && o.isn != uint32(other.ISN) {
					continue
				}
				m := match{fl: pf, by: "isn"}
				m.side[d-1], m.side[d.Reverse()-1] = uint8(s), uint8(1-s)
				return m, true
			}
			return match{}, false
		})
		if ok {
			return m, true
		}
	}
	// TCP timestamps and sequence numbers of a non-RST packet
	for _, p := range pk {
		if !p.hasTS || p.rst || p.dir == flows.DirUnknown {
			continue
		}
		fi, ok := c.byTS[tsKey{p.tsval, p.seq}]
		if !ok {
			continue
		}
		pf := &c.flows[fi]
		for i := range pf.recs {
			r := &pf.recs[i]
			if r.hasTS && r.tsval == p.tsval && sameSegment(r, &p, [2]uint32{}) {
				m := match{fl: pf, by: "tsval"}
				m.side[p.dir-1], m.side[p.dir.Reverse()-1] = r.side, 1-r.side
				return m, true
			}
		}
	}
	// a payload fingerprint (Observe), with the NAT's sequence offsets
	if h, ok := c.mainPay[flows.KeyOf(fl.Client, fl.Server)]; ok && (h.src == fl.Client || h.src == fl.Server) {
		d := flows.FromClient
		if h.src == fl.Server {
			d = flows.FromServer
		}
		m := match{fl: &c.flows[h.flow], by: "payload"}
		m.side[d-1], m.side[d.Reverse()-1] = h.side, 1-h.side
		m.dseq[d-1] = h.dSrc
		if h.hasDst {
			m.dseq[d.Reverse()-1] = h.dDst
		}
		return m, true
	}
	// addresses and ports
	if fl.Client.IsValid() && fl.Server.IsValid() {
		return pick(c.byTuple[flows.KeyOf(fl.Client, fl.Server)], func(pf *peerFlow) (match, bool) {
			m := match{fl: pf, by: "tuple"}
			s := pf.sideOf(fl.Client)
			m.side[0], m.side[1] = s, 1-s
			return m, true
		})
	}
	return match{}, false
}

// unique reports whether no other record of the flow has the header
// values of record j (a repeated pure ACK or a retransmission could pair
// with the wrong copy and skew the clock).
func (m *match) unique(j int) bool {
	r := &m.fl.recs[j]
	for i := range m.fl.recs {
		o := &m.fl.recs[i]
		if i != j && o.side == r.side && o.seq == r.seq && o.ack == r.ack && o.flags == r.flags && o.n == r.n {
			return false
		}
	}
	return true
}

// sameSegment reports whether r carries p's header values (seq, ack,
// flags, length), the sequence numbers shifted by dseq (see match).
func sameSegment(r *record, p *mpkt, dseq [2]uint32) bool {
	var ds, da uint32
	if p.dir != flows.DirUnknown {
		ds, da = dseq[p.dir-1], dseq[p.dir.Reverse()-1]
	}
	if r.seq != p.seq+ds || r.flags != p.flags || int(r.n) != p.n {
		return false
	}
	return !p.flags.Has(capture.ACK) || r.ack == p.ack+da
}

// lookup finds p in the matched flow near the expected peer time (any
// time when the clock is unknown); -1 if absent.
func (m *match) lookup(p *mpkt, k clock, from place) int {
	want := m.side[p.dir-1]
	exp := p.t
	if k.kind != "none" {
		exp = k.toPeer(p.t, from)
	}
	best, bestDist := -1, int64(0)
	for i := range m.fl.recs {
		r := &m.fl.recs[i]
		if r.side != want || !sameSegment(r, p, m.dseq) {
			continue
		}
		dist := r.t - exp
		if dist < 0 {
			dist = -dist
		}
		if k.kind != "none" && dist > k.tol() {
			continue
		}
		if best < 0 || dist < bestDist {
			best, bestDist = i, dist
		}
	}
	return best
}

// Testify checks one event of the main pass against the peer capture
// (see the package doc): the RST present or absent at its claimed
// sender's side, packets lost in the path, and the clocks' alignment. The
// engine weighs the claims with its own (heuristics.Witness).
func (c *Peer) Testify(ev *flows.Event) heuristics.Testimony {
	corr := &heuristics.Correlation{Peer: c.name, MatchedBy: "none", RST: "unknown"}
	var t heuristics.Testimony
	t.Correlation = corr
	note := func(detail string) {
		t.Claims = append(t.Claims, heuristics.WitnessClaim{Evidence: heuristics.Evidence{Signal: heuristics.SignalNote, Detail: detail}})
	}
	pk := packets(ev)
	guess := estimate(c.samples())
	m, matched := c.find(ev, pk, guess)

	// clock: the capture's handshakes plus this flow's matched packets
	ss := slices.Clone(c.samples())
	if matched {
		corr.MatchedBy = m.by
		a, b := m.fl.ends[m.side[0]].ap, m.fl.ends[m.side[1]].ap
		corr.PeerClient, corr.PeerServer = a, b
		for i := range pk {
			p := &pk[i]
			if p.rst || p.dir == flows.DirUnknown || (m.by == "isn" && p.flags.Has(capture.SYN)) {
				continue // (Observe sampled the handshake of a flow found by ISN)
			}
			if guess.kind == "none" && p.n == 0 && p.flags&(capture.SYN|capture.FIN) == 0 {
				continue // a pure ACK may repeat: without a clock it could pair wrongly
			}
			if j := m.lookup(p, guess, placeUnknown); j >= 0 && m.fl.recs[j].ttl != p.ttl && m.unique(j) {
				ss = append(ss, dirSample(p.t, p.ttl, &m.fl.recs[j], addrOf(ev, p.dir)))
			}
		}
	}
	k := estimate(ss)
	corr.Clock, corr.Samples = k.kind, k.samples
	corr.Offset, corr.OneWay = heuristics.Millis{Duration: time.Duration(k.offset)}, heuristics.Millis{Duration: time.Duration(k.delay)}

	// each packet of the flow in the peer capture (-1: not there); the
	// expected time of a packet from the main capture's side
	found := make([]int, len(pk))
	for i := range pk {
		found[i] = -1
		if matched && pk[i].dir != flows.DirUnknown {
			found[i] = m.lookup(&pk[i], k, placeMain)
		}
	}

	// where each endpoint sits
	var at [2]place
	for d := flows.FromClient; d <= flows.FromServer; d++ {
		at[d-1] = c.placeOf(ev, d, pk, &m, found, ss)
	}
	if at[0] == at[1] {
		at = [2]place{}
	}
	sender := ev.Sender()
	if !matched && sender != flows.DirUnknown && k.kind == "none" {
		if c.absentFlow(ev, pk, sender, &t) {
			return t
		}
	}
	if sender == flows.DirUnknown || k.kind == "none" || at[sender-1] == placeUnknown {
		note(fmt.Sprintf("%s: %s", c.name, c.why(ev, matched, k, at)))
		return t
	}
	senderName := sender.String()
	receiverName := sender.Reverse().String()

	// the RSTs
	var rstIdx []int
	for i := range pk {
		if pk[i].rst {
			rstIdx = append(rstIdx, i)
		}
	}
	if len(rstIdx) == 0 {
		return t
	}
	first := &pk[rstIdx[0]]
	from := at[sender-1]
	covered := c.covers(k.toPeer(first.t, from), k) && m.kept(k.toPeer(first.t, from), k)
	var present []uint64 // peer frames
	var absent []uint64  // main frames
	firstPresent := false
	if matched {
		for n, i := range rstIdx {
			p := &pk[i]
			if j := m.lookup(p, k, from); j >= 0 {
				present = append(present, m.fl.recs[j].frame)
				if n == 0 {
					firstPresent = true
				}
			} else {
				absent = append(absent, p.frame)
			}
		}
	} else {
		for _, i := range rstIdx {
			absent = append(absent, pk[i].frame)
		}
	}
	corr.PeerFrames = present

	// packets lost between the capture points, near the reset
	lostTo, lostFrom := c.lost(ev, pk, &m, matched, found, k, at)
	corr.Lost = len(lostTo) + len(lostFrom)
	var lostEv []heuristics.Evidence
	if len(lostTo) > 0 {
		who := hostName(ev, at, placeMain)
		lostEv = append(lostEv, heuristics.Evidence{Signal: heuristics.SignalLostInPath,
			Detail: fmt.Sprintf("%s the %s sent here never reached %s", count(len(lostTo), "packet"), who, c.name),
			Frames: lostTo})
	}
	if len(lostFrom) > 0 {
		who := hostName(ev, at, placePeer)
		lostEv = append(lostEv, heuristics.Evidence{Signal: heuristics.SignalLostInPath,
			Detail: fmt.Sprintf("%s the %s sent in %s never arrived here (%s %s)",
				count(len(lostFrom), "packet"), who, c.name, c.name, frameList("frame", lostFrom))})
	}

	clockNote := c.clockNote(k)
	switch {
	case from == placePeer && firstPresent:
		corr.RST = string(heuristics.SignalPresentAtSender)
		t.Claims = append(t.Claims, genuine(heuristics.Evidence{Signal: heuristics.SignalPresentAtSender,
			Detail: fmt.Sprintf("the RST left the %s: %s frame %d shows it sent there%s",
				senderName, c.name, present[0], clockNote), Frames: []uint64{first.frame}}))
	case from == placePeer && covered && (matched || c.synCovered(ev, k)):
		corr.RST = string(heuristics.SignalAbsentAtSender)
		detail := fmt.Sprintf("%s, taken at the %s's side, shows no such RST leaving the %s (seq %d, flags %s)%s: it was forged on the path",
			c.name, senderName, senderName, first.seq, first.flags, clockNote)
		if !matched {
			detail = fmt.Sprintf("%s, taken at the %s's side, has no packet of this flow at all, though the %s's other traffic is there%s: the %s never saw the connection, so the RST was forged on the path",
				c.name, senderName, senderName, clockNote, senderName)
		}
		t.Claims = append(t.Claims, heuristics.WitnessClaim{Attest: heuristics.AttestForged,
			Evidence: heuristics.Evidence{Signal: heuristics.SignalAbsentAtSender, Detail: detail, Frames: absent},
			Summary:  fmt.Sprintf("%s shows the RST never left the %s", c.name, senderName),
			Advice:   "the reset was forged between the two capture points: look on that path for the firewall, IPS, proxy or load balancer that sends it"})
	case from == placeMain && firstPresent:
		corr.RST = string(heuristics.SignalPresentAtSender)
		t.Claims = append(t.Claims, genuine(heuristics.Evidence{Signal: heuristics.SignalPresentAtSender,
			Detail: fmt.Sprintf("the RST was captured here at the %s's side and arrived at the %s (%s frame %d)%s",
				senderName, receiverName, c.name, present[0], clockNote), Frames: []uint64{first.frame}}))
	case from == placeMain && covered && (matched || c.synCovered(ev, k)):
		corr.RST = "not_delivered"
		lostEv = append([]heuristics.Evidence{{Signal: heuristics.SignalLostInPath,
			Detail: fmt.Sprintf("the RST never reached the %s: %s, at its side, does not show it%s",
				receiverName, c.name, clockNote), Frames: absent}}, lostEv...)
	case !matched && covered:
		note(fmt.Sprintf("%s: the flow is not there, and without its handshake here it cannot be looked up behind a NAT", c.name))
	default:
		note(fmt.Sprintf("%s does not cover the time of the RST", c.name))
	}
	for _, e := range lostEv {
		t.Claims = append(t.Claims, heuristics.WitnessClaim{Evidence: e})
	}
	return t
}

// genuine is the claim that the RST left its claimed sender; the summary
// says so when the main capture alone had taken it for forged.
func genuine(e heuristics.Evidence) heuristics.WitnessClaim {
	return heuristics.WitnessClaim{Attest: heuristics.AttestGenuine, Evidence: e,
		Summary: "the other capture shows it genuine"}
}

// placeOf says which capture direction d's endpoint is near: from its
// matched packets in this flow (its TTL is higher at the capture nearer
// it), else from the clock samples of its address.
func (c *Peer) placeOf(ev *flows.Event, d flows.Dir, pk []mpkt, m *match, found []int, ss []sample) place {
	var main, peer int
	for i := range pk {
		p := &pk[i]
		if p.dir != d || p.rst || found[i] < 0 {
			continue
		}
		switch r := &m.fl.recs[found[i]]; {
		case p.ttl > r.ttl:
			main++
		case p.ttl < r.ttl:
			peer++
		}
	}
	if main == 0 && peer == 0 {
		addr := addrOf(ev, d)
		for _, s := range ss {
			if s.src != addr {
				continue
			}
			if s.toPeer {
				main++
			} else {
				peer++
			}
		}
	}
	switch {
	case main > peer:
		return placeMain
	case peer > main:
		return placePeer
	}
	return placeUnknown
}

// synCovered reports whether this capture saw the flow's handshake (so
// that its ISNs could be looked up) at a time the peer capture was running:
// an unmatched flow then truly never reached the peer.
func (c *Peer) synCovered(ev *flows.Event, k clock) bool {
	for d := flows.FromClient; d <= flows.FromServer; d++ {
		pr := ev.Flow.Profile(d)
		if pr.SYNSeen && c.covers(k.toPeer(pr.SYNTime.UnixNano(), placeMain), k) {
			return true
		}
	}
	return false
}

// covers reports whether the peer capture was running at peer time t.
func (c *Peer) covers(t int64, k clock) bool {
	return t >= c.first-k.tol() && t <= c.last+int64(coverTail)
}

// kept reports whether the matched flow still holds its records of peer
// time t (a long flow drops its oldest ones, see maxRecords).
func (m *match) kept(t int64, k clock) bool {
	return m.fl == nil || m.fl.cutT == 0 || t > m.fl.cutT+k.tol()
}

// lost finds the flow's packets near the reset that one side sent and the
// other never received: main frames sent from the main capture's side,
// peer frames sent from the peer's side. The event's RSTs are judged
// apart.
func (c *Peer) lost(ev *flows.Event, pk []mpkt, m *match, matched bool, found []int, k clock, at [2]place) (toPeer, fromPeer []uint64) {
	for i := range pk {
		p := &pk[i]
		if p.rst || p.dir == flows.DirUnknown || at[p.dir-1] != placeMain {
			continue
		}
		if t := k.toPeer(p.t, placeMain); !c.covers(t, k) || !m.kept(t, k) {
			continue
		}
		if found[i] < 0 {
			toPeer = append(toPeer, p.frame)
		}
	}
	if !matched || len(pk) == 0 {
		return toPeer, nil
	}
	// the window the main capture's event saw, in main time
	lo, hi := pk[0].t, pk[0].t
	for i := range pk {
		lo, hi = min(lo, pk[i].t), max(hi, pk[i].t)
	}
	tol := k.edge()
	switch {
	case ev.Flow.Ladder.Total() > ev.Flow.Ladder.Len():
		lo += tol // older packets scrolled out of the ladder
	case ev.Flow.Dirs[0].SYNSeen:
		lo = ev.Flow.Start.UnixNano() - tol // the whole flow from its SYN
	default:
		lo = ev.Flow.Start.UnixNano() + tol
	}
	if ev.After.N < len(ev.After.Packets) && !ev.EndOfInput {
		hi = max(hi, ev.First().Time.UnixNano()+int64(c.opts.LookAhead))
	}
	hi -= tol
	for j := range m.fl.recs {
		r := &m.fl.recs[j]
		d := dirOfSide(m, r.side)
		if d == flows.DirUnknown || at[d-1] != placePeer {
			continue
		}
		arr := r.t - k.offset + k.delay // expected arrival, main time
		if arr < lo || arr > hi {
			continue
		}
		if !slices.ContainsFunc(pk, func(p mpkt) bool { return p.dir == d && sameSegment(r, &p, m.dseq) }) {
			fromPeer = append(fromPeer, r.frame)
		}
	}
	return toPeer, fromPeer
}

func dirOfSide(m *match, s uint8) flows.Dir {
	switch s {
	case m.side[0]:
		return flows.FromClient
	case m.side[1]:
		return flows.FromServer
	}
	return flows.DirUnknown
}

// why explains in a note why the peer capture could not judge the RST.
func (c *Peer) why(ev *flows.Event, matched bool, k clock, at [2]place) string {
	switch {
	case ev.Sender() == flows.DirUnknown:
		return "the RST's sender is unknown"
	case k.kind == "none":
		return "no packet is in both captures, so they cannot be aligned (is it the same traffic?)"
	case !matched:
		return "the flow is not in the peer capture and its sender's side is unknown"
	}
	return "which capture is at the RST's sender's side is unknown (equal TTLs)"
}

func (c *Peer) clockNote(k clock) string {
	switch k.kind {
	case "two_way":
		return fmt.Sprintf(" (clocks aligned on %d packets: peer offset %s, one-way delay %s)", k.samples, durMS(k.offset), durMS(k.delay))
	case "one_way":
		return fmt.Sprintf(" (one-way delay %s from %d packets, clocks taken as equal)", durMS(k.delay), k.samples)
	}
	return ""
}

// hostName names the endpoint(s) near p: "client", "server".
func hostName(ev *flows.Event, at [2]place, p place) string {
	var names []string
	for d := flows.FromClient; d <= flows.FromServer; d++ {
		if at[d-1] == p {
			names = append(names, d.String())
		}
	}
	return strings.Join(names, " and ")
}

func addrOf(ev *flows.Event, d flows.Dir) netip.Addr {
	if d == flows.FromServer {
		return ev.Flow.Server.Addr()
	}
	return ev.Flow.Client.Addr()
}

// count gives "1 packet", "2 packets".
func count(n int, word string) string {
	if n != 1 {
		word += "s"
	}
	return fmt.Sprintf("%d %s", n, word)
}

// frameList gives "frame 4" or "frames 4, 5, ...".
func frameList(word string, fs []uint64) string {
	if len(fs) != 1 {
		word += "s"
	}
	s := make([]string, 0, min(len(fs), 8))
	for i, f := range fs {
		if i == 8 {
			s = append(s, "...")
			break
		}
		s = append(s, fmt.Sprint(f))
	}
	return word + " " + strings.Join(s, ", ")
}

func ms(ns int64) float64 {
	return float64(ns) / float64(time.Millisecond)
}

func durMS(ns int64) string {
	return fmt.Sprintf("%.3f ms", ms(ns))
}

// absentSlack is how far the two captures' clocks may be apart when no
// packet is in both to align them.
const absentSlack = time.Second

// absentFlow judges a flow the peer capture holds no packet of, when no
// packet of the flow is in both captures to align the clocks (the SYN
// never got there: a firewall answered it). The peer proves the flow never
// reached the RST's claimed sender when it ran through the flow's time
// (clocks taken as equal within absentSlack) at that sender's side: the
// sender's packets leave with an initial TTL there, or, when it holds none
// of the sender's packets, this capture is on the receiver's own host (its
// packets leave here with an initial TTL), so the peer is the other end.
// A peer that does not cover the time, or holds no frame at all, is a note:
// a warning, never a verdict. It reports whether it decided the testimony.
func (c *Peer) absentFlow(ev *flows.Event, pk []mpkt, sender flows.Dir, t *heuristics.Testimony) bool {
	corr := t.Correlation
	note := func(detail string) {
		t.Claims = append(t.Claims, heuristics.WitnessClaim{Evidence: heuristics.Evidence{Signal: heuristics.SignalNote, Detail: detail}})
	}
	var rst *mpkt
	start := int64(0)
	for i := range pk {
		if start == 0 || pk[i].t < start {
			start = pk[i].t
		}
		if pk[i].rst && rst == nil {
			rst = &pk[i]
		}
	}
	if rst == nil {
		return false
	}
	senderName, receiverName := sender.String(), sender.Reverse().String()
	slack := int64(absentSlack)
	if c.frames == 0 {
		note(fmt.Sprintf("%s holds no packet at all: it shows no time span, so it cannot prove that the flow never reached the %s (a capture running at the %s's side through the RST, without a packet of this flow, would)",
			c.name, senderName, senderName))
		return true
	}
	if c.first > start-slack || c.last+int64(coverTail) < rst.t {
		note(fmt.Sprintf("%s ran from %s to %s and does not cover this flow (%s to the RST at %s, clocks unaligned): nothing said about the RST",
			c.name, stamp(c.first), stamp(c.last), stamp(start), stamp(rst.t)))
		return true
	}
	senderAddr, receiverAddr := addrOf(ev, sender), addrOf(ev, sender.Reverse())
	var where string
	rp := ev.Flow.Profile(sender.Reverse())
	switch z := c.zeroHops(); {
	case z[senderAddr]:
		where = fmt.Sprintf("the %s's packets leave with an initial TTL there", senderName)
	case !c.sends(senderAddr) && !z[receiverAddr] && rp.TTL.Count > 0 && rp.TTL.Min == rp.TTL.Max && initialTTL(rp.TTL.Mode):
		where = fmt.Sprintf("this capture is on the %s's host (its packets leave here with TTL %d), so %s is the other end", receiverName, rp.TTL.Mode, c.name)
	default:
		note(fmt.Sprintf("%s has no packet of this flow, but nothing shows it was taken at the %s's side: nothing said about the RST", c.name, senderName))
		return true
	}
	corr.RST = string(heuristics.SignalAbsentAtSender)
	t.Claims = append(t.Claims, heuristics.WitnessClaim{Attest: heuristics.AttestForged,
		Evidence: heuristics.Evidence{Signal: heuristics.SignalAbsentAtSender,
			Detail: fmt.Sprintf("%s, taken at the %s's side (%s), ran from %s to %s and has no packet of this flow: the %s never saw the connection, so the RST was made on the path",
				c.name, senderName, where, stamp(c.first), stamp(c.last), senderName),
			Frames: []uint64{rst.frame}},
		Summary: fmt.Sprintf("%s shows the flow never reached the %s", c.name, senderName),
		Advice:  "the reset was made between the two capture points: look on that path for the firewall, IPS, proxy or load balancer that sends it"})
	var lost []uint64
	for i := range pk {
		if p := &pk[i]; p.dir == sender.Reverse() && !p.rst && p.t <= rst.t {
			lost = append(lost, p.frame)
		}
	}
	if len(lost) > 0 {
		corr.Lost = len(lost)
		t.Claims = append(t.Claims, heuristics.WitnessClaim{Evidence: heuristics.Evidence{Signal: heuristics.SignalLostInPath,
			Detail: fmt.Sprintf("%s the %s sent here (%s) never reached %s: the trigger was stopped on the path",
				count(len(lost), "packet"), receiverName, frameList("frame", lost), c.name), Frames: lost}})
	}
	return true
}

// initialTTL reports whether ttl is a common initial TTL (0 hops).
func initialTTL(ttl uint8) bool { return ttl == 64 || ttl == 128 || ttl == 255 || ttl == 32 }

// zeroHops lists the addresses whose packets leave with an initial TTL in
// the peer capture.
func (c *Peer) zeroHops() map[netip.Addr]bool {
	if c.zeroHop == nil {
		c.zeroHop = map[netip.Addr]bool{}
		for i := range c.flows {
			fl := &c.flows[i]
			for j := range fl.recs {
				if r := &fl.recs[j]; initialTTL(r.ttl) {
					c.zeroHop[fl.ends[r.side].ap.Addr()] = true
				}
			}
		}
	}
	return c.zeroHop
}

// sends reports whether the peer capture holds a packet from addr.
func (c *Peer) sends(addr netip.Addr) bool {
	for i := range c.flows {
		fl := &c.flows[i]
		for s := range fl.ends {
			if fl.ends[s].ap.Addr() == addr && slices.ContainsFunc(fl.recs, func(r record) bool { return r.side == uint8(s) }) {
				return true
			}
		}
	}
	return false
}

// stamp prints a capture time (Unix ns) as UTC with milliseconds.
func stamp(ns int64) string { return time.Unix(0, ns).UTC().Format("15:04:05.000") }
