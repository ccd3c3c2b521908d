package report

import (
	"math"
	"net/netip"
	"strconv"
	"unicode/utf8"

	"github.com/rstscope/rstscope/heuristics"
)

// appendFindingJSON appends f as encoding/json marshals it with HTML
// left as is: compact when prefix and indent are "", else laid out as
// an Encoder with SetIndent(prefix, indent) lays it out (no newline
// after). The contract is still heuristics.Finding's tags and value
// types; this writes it by hand because reflection, the custom
// marshalers' allocations and the indenting pass cost about 20 us a
// finding where this costs about 2. TestFindingJSON holds the two byte-
// identical over the goldens, every capture in pcaps/ (corpus included)
// and random findings whose every field is set (FuzzFindingJSON too): a
// field added to Finding and not written here fails them.
func appendFindingJSON(b []byte, f *heuristics.Finding, prefix, indent string) []byte {
	e := newJSONEnc(prefix, indent)
	return e.appendFinding(b, f)
}

// appendFinding appends f as appendFindingJSON does, with e's layout.
func (e *jsonEnc) appendFinding(b []byte, f *heuristics.Finding) []byte {
	e.b, e.depth, e.empty = b, 0, false
	e.finding(f)
	b, e.b = e.b, nil
	return b
}

// jsonEnc writes JSON values as encoding/json does, with the layout of
// its Indent: each member and element on a line of its own, prefix and
// depth times indent before it, "key": value; [] and {} stay empty.
type jsonEnc struct {
	b        []byte
	indented bool
	lines    []string // by depth: a newline, prefix, depth times indent
	depth    int
	empty    bool // the container just opened has no member yet
}

// maxJSONDepth is the deepest a finding's JSON nests (a packet row's
// members: 3) with room to spare.
const maxJSONDepth = 8

// newJSONEnc gives an encoder laid out as SetIndent(prefix, indent), or
// compact when both are "".
func newJSONEnc(prefix, indent string) *jsonEnc {
	e := &jsonEnc{indented: prefix != "" || indent != ""}
	if e.indented {
		line := "\n" + prefix
		for range maxJSONDepth + 1 {
			e.lines = append(e.lines, line)
			line += indent
		}
	}
	return e
}

func (e *jsonEnc) open(c byte) {
	e.b = append(e.b, c)
	e.depth++
	e.empty = true
}

func (e *jsonEnc) close(c byte) {
	e.depth--
	if e.indented && !e.empty {
		e.newline()
	}
	e.b = append(e.b, c)
	e.empty = false
}

func (e *jsonEnc) newline() {
	e.b = append(e.b, e.lines[e.depth]...)
}

// elem starts a member or element: the comma after the one before, its
// line.
func (e *jsonEnc) elem() {
	if !e.empty {
		e.b = append(e.b, ',')
	}
	if e.indented {
		e.newline()
	}
	e.empty = false
}

// key starts a member named name (a name of the contract: plain ASCII).
func (e *jsonEnc) key(name string) {
	e.elem()
	e.b = append(e.b, '"')
	e.b = append(e.b, name...)
	e.b = append(e.b, '"', ':')
	if e.indented {
		e.b = append(e.b, ' ')
	}
}

func (e *jsonEnc) str(s string)  { e.b = appendJSONString(e.b, s) }
func (e *jsonEnc) int(v int64)   { e.b = strconv.AppendInt(e.b, v, 10) }
func (e *jsonEnc) uint(v uint64) { e.b = strconv.AppendUint(e.b, v, 10) }
func (e *jsonEnc) bool(v bool)   { e.b = strconv.AppendBool(e.b, v) }

// float writes v as encoding/json writes a float64: the shortest
// decimal that reads back as v, with an exponent below 1e-6 and from
// 1e21 on (e-7, not e-07). Durations give no NaN or infinity.
func (e *jsonEnc) float(v float64) {
	abs := math.Abs(v)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	at := len(e.b)
	e.b = strconv.AppendFloat(e.b, v, format, -1, 64)
	if format == 'e' {
		if n := len(e.b); n-at >= 4 && e.b[n-4] == 'e' && e.b[n-3] == '-' && e.b[n-2] == '0' {
			e.b[n-2] = e.b[n-1]
			e.b = e.b[:n-1]
		}
	}
}

// frames writes a list of frame numbers.
func (e *jsonEnc) frames(fs []uint64) {
	e.open('[')
	for _, n := range fs {
		e.elem()
		e.uint(n)
	}
	e.close(']')
}

// addrPort writes ap as its MarshalText does ("" when invalid), quoted.
func (e *jsonEnc) addrPort(ap netip.AddrPort) {
	if ap.Addr().Zone() != "" { // a zone may hold anything: escape it
		t, _ := ap.MarshalText()
		e.b = appendJSONString(e.b, string(t))
		return
	}
	e.b = append(e.b, '"')
	e.b, _ = ap.AppendText(e.b) // never fails; digits, hex, '.', ':' and brackets
	e.b = append(e.b, '"')
}

// addr writes a's String (valid addresses only), quoted.
func (e *jsonEnc) addr(a netip.Addr) {
	if a.Zone() != "" {
		e.b = appendJSONString(e.b, a.String())
		return
	}
	e.b = append(e.b, '"')
	e.b = a.AppendTo(e.b)
	e.b = append(e.b, '"')
}

// instant writes an Instant as its MarshalJSON does.
func (e *jsonEnc) instant(i heuristics.Instant) {
	e.b = append(e.b, '"')
	e.b, _ = i.AppendText(e.b) // never fails; digits and "-:.TZ+"
	e.b = append(e.b, '"')
}

func (e *jsonEnc) finding(f *heuristics.Finding) {
	e.open('{')
	e.key("id")
	e.int(int64(f.ID))
	e.key("cause")
	e.str(string(f.Cause))
	e.key("origin")
	e.str(string(f.Origin))
	e.key("confidence")
	e.str(f.Confidence.String())
	e.key("summary")
	e.str(f.Summary)
	e.key("flow")
	e.flow(&f.Flow)
	e.key("rst")
	e.rst(&f.RST)
	e.key("stage")
	e.str(f.Stage)
	e.key("errno")
	e.str(f.Errno)
	e.key("alternatives")
	if f.Alternatives == nil {
		e.b = append(e.b, "null"...)
	} else {
		e.open('[')
		for _, c := range f.Alternatives {
			e.elem()
			e.str(string(c))
		}
		e.close(']')
	}
	e.key("advice")
	e.str(f.Advice)
	if f.Gap != (heuristics.Gap{}) {
		e.key("idle_gap")
		e.b = append(e.b, '"') // Gap's MarshalText: "%.1fs"
		e.b = strconv.AppendFloat(e.b, f.Gap.Seconds(), 'f', 1, 64)
		e.b = append(e.b, 's', '"')
	}
	if f.GapSeconds != (heuristics.Seconds{}) {
		e.key("idle_gap_s")
		e.float(f.GapSeconds.Seconds())
	}
	if f.KnownTimeout != "" {
		e.key("known_timeout")
		e.str(f.KnownTimeout)
	}
	if q := f.Request; q != nil {
		e.key("request")
		e.request(q)
	}
	if a := f.TLSAlert; a != nil {
		e.key("tls_alert")
		e.tlsAlert(a)
	}
	e.key("evidence")
	if f.Evidence == nil {
		e.b = append(e.b, "null"...)
	} else {
		e.open('[')
		for i := range f.Evidence {
			e.elem()
			e.evidence(&f.Evidence[i])
		}
		e.close(']')
	}
	e.key("packets")
	if f.Packets == nil {
		e.b = append(e.b, "null"...)
	} else {
		e.open('[')
		for i := range f.Packets {
			e.elem()
			e.packet(&f.Packets[i])
		}
		e.close(']')
	}
	if c := f.Correlation; c != nil {
		e.key("correlation")
		e.correlation(c)
	}
	if f.ConsequenceOf != 0 {
		e.key("consequence_of")
		e.int(int64(f.ConsequenceOf))
	}
	if k := f.Kernel; k != nil {
		e.key("kernel")
		e.kernel(k)
	}
	e.close('}')
}

// flow writes FlowInfo as its MarshalJSON does: the fields, then the
// endpoints split into address and port.
func (e *jsonEnc) flow(fl *heuristics.FlowInfo) {
	e.open('{')
	e.key("client")
	e.addrPort(fl.Client)
	e.key("server")
	e.addrPort(fl.Server)
	e.key("roles_from")
	e.str(fl.RolesFrom)
	e.key("start")
	e.instant(fl.Start)
	e.key("client_bytes")
	e.uint(fl.ClientBytes)
	e.key("server_bytes")
	e.uint(fl.ServerBytes)
	e.key("client_packets")
	e.uint(fl.ClientPackets)
	e.key("server_packets")
	e.uint(fl.ServerPackets)
	if fl.Tunnel != "" {
		e.key("tunnel")
		e.str(fl.Tunnel)
	}
	if fl.VLAN != 0 {
		e.key("vlan")
		e.uint(uint64(fl.VLAN))
	}
	if fl.History != "" {
		e.key("history")
		e.str(fl.History)
	}
	if fl.ConnState != "" {
		e.key("conn_state")
		e.str(fl.ConnState)
	}
	if fl.Client.IsValid() {
		e.key("client_ip")
		e.addr(fl.Client.Addr())
		if p := fl.Client.Port(); p != 0 {
			e.key("client_port")
			e.uint(uint64(p))
		}
	}
	if fl.Server.IsValid() {
		e.key("server_ip")
		e.addr(fl.Server.Addr())
		if p := fl.Server.Port(); p != 0 {
			e.key("server_port")
			e.uint(uint64(p))
		}
	}
	e.close('}')
}

func (e *jsonEnc) rst(r *heuristics.RSTInfo) {
	e.open('{')
	e.key("time")
	e.instant(r.Time)
	e.key("packet")
	e.uint(r.Packet)
	e.key("input")
	e.int(int64(r.Input))
	e.key("from")
	e.str(r.From.String())
	e.key("count")
	e.int(int64(r.Count))
	e.key("flags")
	e.str(r.Flags)
	e.key("seq")
	e.uint(uint64(r.Seq))
	e.key("ack")
	e.uint(uint64(r.Ack))
	e.key("window")
	e.uint(uint64(r.Window))
	e.key("ttl")
	e.uint(uint64(r.TTL))
	if r.IPID != nil {
		e.key("ip_id")
		e.uint(uint64(*r.IPID))
	}
	e.key("seq_check")
	e.str(r.SeqCheck)
	if len(r.Frames) > 0 {
		e.key("frames")
		e.frames(r.Frames)
	}
	if r.PayloadLen != 0 {
		e.key("payload_len")
		e.int(int64(r.PayloadLen))
	}
	if r.Payload != "" {
		e.key("payload")
		e.str(r.Payload)
	}
	e.close('}')
}

func (e *jsonEnc) request(q *heuristics.RequestInfo) {
	e.open('{')
	e.key("kind")
	e.str(q.Kind)
	for _, kv := range [...]struct{ k, v string }{{"method", q.Method}, {"path", q.Path}, {"host", q.Host},
		{"sni", q.SNI}, {"alpn", q.ALPN}} {
		if kv.v != "" {
			e.key(kv.k)
			e.str(kv.v)
		}
	}
	if q.Frame != 0 {
		e.key("packet")
		e.uint(q.Frame)
	}
	if q.Earlier != 0 {
		e.key("earlier_requests")
		e.int(int64(q.Earlier))
	}
	e.close('}')
}

func (e *jsonEnc) tlsAlert(a *heuristics.TLSAlertJSON) {
	e.open('{')
	e.key("from")
	e.str(a.From.String())
	e.key("packet")
	e.uint(a.Packet)
	e.key("encrypted")
	e.bool(a.Encrypted)
	if a.Level != "" {
		e.key("level")
		e.str(a.Level)
	}
	if a.Description != "" {
		e.key("description")
		e.str(a.Description)
	}
	if a.Code != nil {
		e.key("code")
		e.uint(uint64(*a.Code))
	}
	e.close('}')
}

func (e *jsonEnc) evidence(ev *heuristics.Evidence) {
	e.open('{')
	e.key("signal")
	e.str(string(ev.Signal))
	e.key("detail")
	e.str(ev.Detail)
	if len(ev.Frames) > 0 {
		e.key("frames")
		e.frames(ev.Frames)
	}
	e.close('}')
}

func (e *jsonEnc) packet(p *heuristics.PacketRow) {
	e.open('{')
	e.key("packet")
	e.uint(p.Packet)
	e.key("time_offset_ms")
	e.float(p.TimeOffset.MS())
	e.key("from")
	e.str(p.From.String())
	e.key("flags")
	e.str(p.Flags)
	e.key("seq")
	e.uint(uint64(p.Seq))
	e.key("ack")
	e.uint(uint64(p.Ack))
	e.key("len")
	e.int(int64(p.Len))
	e.key("ttl")
	e.uint(uint64(p.TTL))
	if p.IPID != nil {
		e.key("ip_id")
		e.uint(uint64(*p.IPID))
	}
	e.key("window")
	e.uint(uint64(p.Window))
	if p.RST {
		e.key("rst")
		e.bool(true)
	}
	if p.After {
		e.key("after")
		e.bool(true)
	}
	if p.Partial {
		e.key("partial")
		e.bool(true)
	}
	e.close('}')
}

func (e *jsonEnc) correlation(c *heuristics.Correlation) {
	e.open('{')
	e.key("peer")
	e.str(c.Peer)
	e.key("matched_by")
	e.str(c.MatchedBy)
	if c.PeerClient != (netip.AddrPort{}) {
		e.key("peer_client")
		e.addrPort(c.PeerClient)
	}
	if c.PeerServer != (netip.AddrPort{}) {
		e.key("peer_server")
		e.addrPort(c.PeerServer)
	}
	e.key("rst")
	e.str(c.RST)
	if len(c.PeerFrames) > 0 {
		e.key("peer_frames")
		e.frames(c.PeerFrames)
	}
	e.key("clock")
	e.str(c.Clock)
	e.key("offset_ms")
	e.float(c.Offset.MS())
	e.key("one_way_ms")
	e.float(c.OneWay.MS())
	e.key("samples")
	e.int(int64(c.Samples))
	if c.Lost != 0 {
		e.key("lost")
		e.int(int64(c.Lost))
	}
	e.close('}')
}

func (e *jsonEnc) kernel(k *heuristics.KernelInfo) {
	e.open('{')
	e.key("event")
	e.str(k.Event)
	if k.Reason != "" {
		e.key("reason")
		e.str(k.Reason)
	}
	if k.State != "" {
		e.key("state")
		e.str(k.State)
	}
	if k.NetNS != 0 {
		e.key("netns")
		e.uint(uint64(k.NetNS))
	}
	e.key("delta_us")
	e.int(k.DeltaUS)
	e.close('}')
}

// jsonSafe marks the ASCII bytes a JSON string holds as they are (HTML
// left as is): all but the controls, '"' and '\\'.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendJSONString appends s quoted as encoding/json quotes a string
// without HTML escaping: the controls as \b \f \n \r \t or \u00XX,
// invalid UTF-8 as \ufffd, U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if i = plainRun(s, i); i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
