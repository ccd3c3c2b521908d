package heuristics

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rstscope/rstscope/capture"
	"github.com/rstscope/rstscope/flows"
)

// The scenario builder turns a ladder of one-line packet descriptions into
// a flows.Event, with a small model of what flows.Table computes (profiles,
// ladder, look-ahead). It is a test fixture, independent of package flows'
// implementation.
//
// Line syntax: "<C|S> <flags> [key=value|word ...]"
//
//	C / S       client->server / server->client
//	flags       S SA A PA FA R RA ... (capture.TCPFlags letters)
//	@5s         time since the previous packet (default 1ms); @=2.5s absolute
//	seq= ack=   override (default: tracked per side; RST: exact)
//	len=        payload length
//	ttl= id=    TTL and IPv4 IP ID (default per side: 64/52, counters from 0x1000/0x8000)
//	ts=         TCP timestamp TSval (per side default when the scenario uses ts)
//	nots        no timestamp option on this packet
//	win=        window (default 65535; RSTs 0)
//	nodf        DF clear (default set)
//	res=        reserved bits
//	mac=        last byte of the source MAC (Ethernet scenario)
//	req=tls:SNI | req=http:METHOD:PATH:HOST   first payload classification
//	alert=L:D | alert=enc                     a TLS alert in this payload
//	check=exact|in|out                        RST seq check override
//	cut                                       the capture's snaplen cut this payload (CutPayloads)
//	challenge                                 this receiver packet is a challenge ACK
//	event                                     this RST (not the first RST) opens the event
type scenario struct {
	t         *testing.T
	client    netip.AddrPort
	server    netip.AddrPort
	useTS     bool
	useMAC    bool
	ipv6      bool
	start     time.Time
	host      *flows.HostProfile // SenderHost override
	noLadder  bool
	serverTTL uint8 // default 52
}

func newScenario(t *testing.T) *scenario {
	t.Helper()
	return &scenario{
		t:      t,
		client: netip.MustParseAddrPort("10.0.0.2:51514"),
		server: netip.MustParseAddrPort("93.184.216.34:443"),
		start:  time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

type spkt struct {
	e         flows.LadderEntry
	df        bool
	reserved  uint8
	opts      capture.Options
	mac       byte
	req       *flows.Request
	alert     *flows.TLSAlertInfo
	check     flows.SeqCheck
	challenge bool
	cut       bool
	evt       bool
	seqSet    bool
	ackSet    bool
}

type sideState struct {
	nextSeq flows.Seq
	ipid    uint16
	ts      uint32
	ttlCnt  map[uint8]uint32
	ipids   []uint16
}

// event builds the event from the ladder lines.
func (s *scenario) event(lines ...string) *flows.Event {
	s.t.Helper()
	ev := &flows.Event{}
	fl := &ev.Flow
	fl.ID = 1
	fl.Client, fl.Server = s.client, s.server
	if s.ipv6 {
		fl.Client = netip.MustParseAddrPort("[2001:db8::2]:51514")
		fl.Server = netip.MustParseAddrPort("[2001:db8::80]:443")
	}
	st := [3]*sideState{nil,
		{nextSeq: 1000, ipid: 0x1000, ts: 100000, ttlCnt: map[uint8]uint32{}},
		{nextSeq: 5000, ipid: 0x8000, ts: 900000, ttlCnt: map[uint8]uint32{}}}
	now := s.start
	var pkts []spkt
	for i, line := range lines {
		f := strings.Fields(line)
		if len(f) < 2 {
			s.t.Fatalf("line %d %q: want '<C|S> <flags> ...'", i+1, line)
		}
		p := spkt{df: true}
		switch f[0] {
		case "C":
			p.e.Dir = flows.FromClient
		case "S":
			p.e.Dir = flows.FromServer
		default:
			s.t.Fatalf("line %d: bad direction %q", i+1, f[0])
		}
		p.e.Flags = parseFlags(s.t, f[1])
		p.e.Frame = uint64(i + 1)
		p.e.Window = 65535
		if p.e.Flags.Has(capture.RST) {
			p.e.Window = 0
		}
		side := st[p.e.Dir]
		if p.e.Dir == flows.FromClient {
			p.e.TTL = 64
		} else {
			p.e.TTL = 52
			if s.serverTTL != 0 {
				p.e.TTL = s.serverTTL
			}
		}
		p.e.IPID = side.ipid
		side.ipid++
		if s.useTS {
			side.ts += 10
			p.opts.HasTS, p.opts.TSVal, p.opts.Count = true, side.ts, 1
		}
		gap := time.Millisecond
		if i == 0 {
			gap = 0
		}
		abs := time.Duration(-1)
		for _, kv := range f[2:] {
			k, v, _ := strings.Cut(kv, "=")
			switch {
			case strings.HasPrefix(kv, "@="):
				abs = mustDur(s.t, kv[2:])
			case strings.HasPrefix(kv, "@"):
				gap = mustDur(s.t, kv[1:])
			case k == "seq":
				p.e.Seq, p.seqSet = flows.Seq(mustU(s.t, v)), true
			case k == "ack":
				p.e.Ack, p.ackSet = flows.Seq(mustU(s.t, v)), true
			case k == "len":
				p.e.Len = int(mustU(s.t, v))
			case k == "ttl":
				p.e.TTL = uint8(mustU(s.t, v))
			case k == "id":
				p.e.IPID = uint16(mustU(s.t, v))
			case k == "ts":
				p.opts.HasTS, p.opts.TSVal, p.opts.Count = true, uint32(mustU(s.t, v)), 1
			case kv == "nots":
				p.opts = capture.Options{}
			case k == "win":
				p.e.Window = uint16(mustU(s.t, v))
			case kv == "nodf":
				p.df = false
			case k == "res":
				p.reserved = uint8(mustU(s.t, v))
			case k == "mac":
				p.mac = byte(mustU(s.t, v))
			case k == "req":
				parts := strings.Split(v, ":")
				r := &flows.Request{Frame: p.e.Frame}
				switch parts[0] {
				case "tls":
					r.Kind, r.SNI = flows.PayloadTLSClientHello, parts[1]
				case "http":
					r.Kind, r.Method, r.Path, r.Host = flows.PayloadHTTPRequest, parts[1], parts[2], parts[3]
				}
				p.req = r
			case k == "alert":
				a := &flows.TLSAlertInfo{Frame: p.e.Frame}
				if v == "enc" {
					a.Encrypted = true
				} else {
					l, d, _ := strings.Cut(v, ":")
					a.Level, a.Description = uint8(mustU(s.t, l)), uint8(mustU(s.t, d))
				}
				p.alert = a
			case k == "check":
				p.check = map[string]flows.SeqCheck{"exact": flows.SeqExact, "in": flows.SeqInWindow, "out": flows.SeqOutOfWindow}[v]
			case kv == "challenge":
				p.challenge = true
			case kv == "cut":
				p.cut = true
			case kv == "event":
				p.evt = true
			default:
				s.t.Fatalf("line %d: unknown key %q", i+1, kv)
			}
		}
		if abs >= 0 {
			now = s.start.Add(abs)
		} else {
			now = now.Add(gap)
		}
		p.e.Time = now
		if s.ipv6 {
			p.e.IPID = 0
		}
		if p.alert != nil {
			p.alert.Time = now
		}
		pkts = append(pkts, p)
	}

	// Split: before the first RST, the event's RSTs, after.
	first := -1
	for i, p := range pkts {
		if p.evt {
			first = i
			break
		}
	}
	for i, p := range pkts {
		if first < 0 && p.e.Flags.Has(capture.RST) {
			first = i
			break
		}
	}
	if first < 0 {
		s.t.Fatal("scenario has no RST")
	}
	sender := pkts[first].e.Dir

	apply := func(p *spkt) {
		d := p.e.Dir
		side, other := st[d], st[d.Reverse()]
		pr := fl.Profile(d)
		if !p.seqSet {
			p.e.Seq = side.nextSeq
		}
		if !p.ackSet && p.e.Flags.Has(capture.ACK) {
			p.e.Ack = other.nextSeq
		}
		pr.Packets++
		if pr.First.IsZero() {
			pr.First = p.e.Time
		}
		pr.Last = p.e.Time
		if !fl.Last.IsZero() {
			fl.MaxGap = max(fl.MaxGap, p.e.Time.Sub(fl.Last))
		}
		if fl.Start.IsZero() {
			fl.Start, fl.FirstFrame = p.e.Time, p.e.Frame
		}
		fl.Last = p.e.Time
		if p.e.Flags.Has(capture.RST) {
			pr.RSTs++
		} else {
			side.ttlCnt[p.e.TTL]++
			addTTL(&pr.TTL, p.e.TTL)
			if !s.ipv6 {
				side.ipids = append(side.ipids, p.e.IPID)
				pr.IPID = ipidModel(side.ipids)
			}
			if p.opts.HasTS {
				pr.TSPackets++
				pr.LastTSVal = p.opts.TSVal
			}
			if s.useMAC {
				mac := [6]byte{2, 0, 0, 0, byte(d), 1}
				if p.mac != 0 {
					mac[5] = p.mac
				}
				if pr.HasMAC && pr.MAC != mac {
					pr.MACChanged = true
				}
				pr.HasMAC, pr.MAC = true, mac
			}
		}
		if p.e.Len > 0 {
			pr.Bytes += uint64(p.e.Len)
			pr.DataPackets++
			pr.LastData, pr.LastDataFrame = p.e.Time, p.e.Frame
			if p.cut {
				pr.CutPayloads++
			}
		}
		if p.e.Flags.Has(capture.SYN) {
			pr.SYNSeen, pr.ISN, pr.SYNFrame, pr.SYNTime = true, p.e.Seq, p.e.Frame, p.e.Time
			if p.e.Flags.Has(capture.ACK) {
				fl.SYNACKSeen, fl.SYNACKTime = true, p.e.Time
				if c := fl.Profile(flows.FromClient); c.SYNSeen {
					fl.ClientRTT = p.e.Time.Sub(c.SYNTime)
				}
			}
		}
		end := p.e.Seq.Add(uint32(p.e.Len))
		if p.e.Flags.Has(capture.SYN) {
			end = end.Add(1)
		}
		if p.e.Flags.Has(capture.FIN) {
			pr.FINSeen, pr.FINFrame, pr.FINTime, pr.FINSeq = true, p.e.Frame, p.e.Time, p.e.Seq.Add(uint32(p.e.Len))
			end = end.Add(1)
		}
		if !p.e.Flags.Has(capture.RST) {
			if !pr.SeqValid || pr.NextSeq.LessThan(end) {
				pr.NextSeq, pr.SeqValid = end, true
			}
			side.nextSeq = pr.NextSeq
			if p.e.Flags.Has(capture.ACK) {
				pr.LastAck, pr.AckValid = p.e.Ack, true
				if d == flows.FromClient && fl.SYNACKSeen && !fl.Established {
					fl.Established = true
					fl.ServerRTT = p.e.Time.Sub(fl.SYNACKTime)
					fl.RTT = fl.ClientRTT + fl.ServerRTT
				}
			}
			pr.Window = uint32(p.e.Window)
		}
		if p.req != nil && d == flows.FromClient {
			pr.Request, pr.FirstPayload = *p.req, p.req.Kind
		}
		if p.alert != nil {
			pr.Alert, pr.AlertSeen = *p.alert, true
		}
	}

	for i := 0; i < first; i++ {
		apply(&pkts[i])
		if !s.noLadder {
			fl.Ladder.Push(pkts[i].e)
		}
	}
	if fl.Profile(flows.FromClient).SYNSeen {
		fl.RolesFrom = flows.RolesHandshake
	} else {
		fl.RolesFrom = flows.RolesPort
	}
	// Stage.
	cp, sp := fl.Profile(flows.FromClient), fl.Profile(flows.FromServer)
	switch {
	case !fl.Established && (cp.SYNSeen || sp.SYNSeen):
		ev.Stage = flows.StagePostSYN
	case cp.DataPackets+sp.DataPackets == 0:
		ev.Stage = flows.StagePostACK
	case cp.DataPackets == 1 && sp.DataPackets == 0:
		ev.Stage = flows.StagePostPSH
	default:
		ev.Stage = flows.StageLaterInFlow
	}
	if first > 0 {
		ev.Gap = pkts[first].e.Time.Sub(pkts[first-1].e.Time)
	}
	for i := first - 1; i >= 0; i-- {
		if pkts[i].e.Dir != sender {
			ev.Trigger, ev.HasTrigger = pkts[i].e, true
			break
		}
	}

	// The RSTs.
	snd, rcv := fl.Profile(sender), fl.Profile(sender.Reverse())
	i := first
	for ; i < len(pkts); i++ {
		p := &pkts[i]
		if p.e.Dir != sender {
			if p.e.Flags.Has(capture.RST) {
				break
			}
			continue // receiver packets may come between; they go to After below
		}
		if !p.e.Flags.Has(capture.RST) {
			break
		}
		if !p.seqSet {
			p.e.Seq = st[sender].nextSeq
		}
		if !p.ackSet && p.e.Flags.Has(capture.ACK) {
			p.e.Ack = st[sender.Reverse()].nextSeq
		}
		check := p.check
		if check == flows.SeqUnknown && snd.SeqValid {
			rcvNxt := snd.NextSeq
			if rcv.AckValid {
				rcvNxt = rcv.LastAck
			}
			switch {
			case p.e.Seq == rcvNxt:
				check = flows.SeqExact
			case p.e.Seq.InWindow(rcvNxt, max(rcv.Window, 1)):
				check = flows.SeqInWindow
			default:
				check = flows.SeqOutOfWindow
			}
		}
		r := flows.RSTPacket{Frame: p.e.Frame, Time: p.e.Time, Dir: sender, Flags: p.e.Flags, Reserved: p.reserved,
			Seq: p.e.Seq, Ack: p.e.Ack, Window: p.e.Window, TTL: p.e.TTL, IPID: p.e.IPID, IsIPv4: !s.ipv6,
			DF: p.df && !s.ipv6, Opts: p.opts, Len: p.e.Len, SeqCheck: check}
		if s.useMAC {
			r.HasMAC, r.SrcMAC = true, [6]byte{2, 0, 0, 0, byte(sender), 1}
			if p.mac != 0 {
				r.SrcMAC[5] = p.mac
			}
		}
		if ev.Count < len(ev.RSTs) {
			ev.RSTs[ev.Count] = r
		}
		ev.Count++
	}
	// After: everything after the first RST that is not one of its RSTs.
	a := &ev.After
	for j := first + 1; j < len(pkts); j++ {
		p := &pkts[j]
		isEventRST := false
		for k := range min(ev.Count, len(ev.RSTs)) {
			if ev.RSTs[k].Frame == p.e.Frame {
				isEventRST = true
			}
		}
		if isEventRST {
			continue
		}
		if !p.seqSet && !p.e.Flags.Has(capture.RST) {
			p.e.Seq = st[p.e.Dir].nextSeq
			st[p.e.Dir].nextSeq = p.e.Seq.Add(uint32(p.e.Len))
		}
		if !p.ackSet && p.e.Flags.Has(capture.ACK) {
			p.e.Ack = st[p.e.Dir.Reverse()].nextSeq
		}
		if a.N < len(a.Packets) {
			a.Packets[a.N] = p.e
			a.N++
		}
		switch {
		case p.e.Flags.Has(capture.RST) && p.e.Dir != sender:
			a.RSTsBack++
		case p.e.Dir == sender && !p.e.Flags.Has(capture.RST):
			a.SenderPackets++
			if a.SenderFirst.IsZero() {
				a.SenderFirst, a.SenderFirstFrame = p.e.Time, p.e.Frame
			}
			if p.e.Len > 0 {
				a.SenderDataPackets++
				a.SenderMaxSeqEnd = p.e.Seq.Add(uint32(p.e.Len))
			}
		case p.e.Dir != sender:
			a.ReceiverPackets++
			if a.ReceiverFirst.IsZero() {
				a.ReceiverFirst, a.ReceiverFirstFrame = p.e.Time, p.e.Frame
			}
			if p.e.Len > 0 {
				a.ReceiverDataPackets++
			}
			if p.challenge {
				a.ChallengeACK, a.ChallengeACKFrame = true, p.e.Frame
			}
		}
	}
	if s.host != nil {
		ev.SenderHost = *s.host
	}
	return ev
}

func addTTL(t *flows.TTLStats, v uint8) {
	if t.Count == 0 {
		t.Min, t.Max = v, v
	}
	t.Count++
	t.Min, t.Max = min(t.Min, v), max(t.Max, v)
	for i := range t.Vals {
		if t.Counts[i] == 0 {
			t.Vals[i], t.Counts[i] = v, 1
			break
		}
		if t.Vals[i] == v {
			t.Counts[i]++
			break
		}
	}
	best := 0
	for i := range t.Vals {
		if t.Counts[i] > t.Counts[best] {
			best = i
		}
	}
	t.Mode = t.Vals[best]
}

func ipidModel(ids []uint16) flows.IPIDStats {
	st := flows.IPIDStats{Samples: uint32(len(ids)), Last: ids[len(ids)-1]}
	for i, id := range ids {
		if id == 0 {
			st.Zero++
		}
		if i > 0 {
			d := ipIDDelta(ids[i-1], id)
			if d > 0 && d <= 1024 {
				st.Small++
				st.Step = uint16(d)
			} else {
				st.Large++
			}
		}
	}
	switch {
	case len(ids) < 3:
		st.Model = flows.IPIDUnknown
	case int(st.Zero) == len(ids):
		st.Model = flows.IPIDZero
	case st.Large == 0:
		st.Model = flows.IPIDIncrementing
	default:
		st.Model = flows.IPIDRandom
	}
	return st
}

func parseFlags(t *testing.T, s string) capture.TCPFlags {
	t.Helper()
	var f capture.TCPFlags
	for _, ch := range s {
		switch ch {
		case 'S':
			f |= capture.SYN
		case 'A':
			f |= capture.ACK
		case 'F':
			f |= capture.FIN
		case 'R':
			f |= capture.RST
		case 'P':
			f |= capture.PSH
		case 'U':
			f |= capture.URG
		default:
			t.Fatalf("bad flag %q in %q", ch, s)
		}
	}
	return f
}

func mustDur(t *testing.T, s string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("bad duration %q: %v", s, err)
	}
	return d
}

func mustU(t *testing.T, s string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(s, 0, 32)
	if err != nil {
		t.Fatalf("bad number %q: %v", s, err)
	}
	return n
}

// want is what a test asserts about a finding.
type want struct {
	cause   Cause
	origin  Origin
	minConf Confidence
	maxConf Confidence // 0: no upper bound
	signals map[Signal][]uint64
	// absent signals must not appear in the evidence (notes aside: a
	// signal listed here must not appear at all).
	absent []Signal
}

func check(t *testing.T, f Finding, w want) {
	t.Helper()
	t.Logf("%s/%s/%s: %s | advice: %s", f.Cause, f.Origin, f.Confidence, f.Summary, f.Advice)
	if f.Cause != w.cause {
		t.Errorf("frame %d: cause: got %s, want %s\n%s", f.RST.Packet, f.Cause, w.cause, dump(f))
	}
	if f.Origin != w.origin {
		t.Errorf("frame %d: origin: got %s, want %s\n%s", f.RST.Packet, f.Origin, w.origin, dump(f))
	}
	if f.Confidence < w.minConf {
		t.Errorf("frame %d: confidence: got %s, want at least %s\n%s", f.RST.Packet, f.Confidence, w.minConf, dump(f))
	}
	if w.maxConf != 0 && f.Confidence > w.maxConf {
		t.Errorf("frame %d: confidence: got %s, want at most %s\n%s", f.RST.Packet, f.Confidence, w.maxConf, dump(f))
	}
	for sig, frames := range w.signals {
		var all []uint64
		for _, e := range f.Evidence {
			if e.Signal == sig {
				all = append(all, e.Frames...)
			}
		}
		if _, ok := findEvidence(f, sig); !ok {
			t.Errorf("frame %d: signal %s: missing\n%s", f.RST.Packet, sig, dump(f))
			continue
		}
		for _, fr := range frames {
			if !slices.Contains(all, fr) {
				t.Errorf("frame %d: signal %s: frames got %v, want to include %d", f.RST.Packet, sig, all, fr)
			}
		}
	}
	for _, sig := range w.absent {
		if ev, ok := findEvidence(f, sig); ok {
			t.Errorf("frame %d: signal %s: got %q, want absent", f.RST.Packet, sig, ev.Detail)
		}
	}
	if f.Summary == "" || f.Advice == "" {
		t.Errorf("frame %d: summary %q / advice %q: want both set", f.RST.Packet, f.Summary, f.Advice)
	}
}

func findEvidence(f Finding, sig Signal) (Evidence, bool) {
	for _, e := range f.Evidence {
		if e.Signal == sig {
			return e, true
		}
	}
	return Evidence{}, false
}

func dump(f Finding) string {
	var b strings.Builder
	b.WriteString("  summary: " + f.Summary + "\n")
	b.WriteString("  alternatives: ")
	for _, a := range f.Alternatives {
		b.WriteString(string(a) + " ")
	}
	b.WriteString("\n")
	for _, e := range f.Evidence {
		b.WriteString("  - " + string(e.Signal) + ": " + e.Detail + "\n")
	}
	return b.String()
}

func judge(ev *flows.Event) Finding {
	e := &Engine{}
	return e.Judge(ev)
}

// hasDetail reports whether an evidence line of f contains s.
func hasDetail(f Finding, s string) bool {
	for _, e := range f.Evidence {
		if strings.Contains(e.Detail, s) {
			return true
		}
	}
	return false
}
