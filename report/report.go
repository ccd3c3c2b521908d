package report

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rstscope/rstscope/heuristics"
)

// Writer renders findings in one format. Streaming formats (ndjson, live
// text) write each finding as it comes; document formats (json, markdown,
// text summary) write at Close. A Writer keeps its first error and
// returns it from Close.
//
// Write keeps the Finding's slices (evidence, packets, ...) until Close;
// the caller must not modify them afterwards. Writers number findings
// themselves (the caller's ID is ignored): document formats 1..n in
// sorted order, streams in write order.
type Writer interface {
	Write(f *heuristics.Finding) error
	Close(s Summary) error
}

// WriteHeld is w.Write(f), except that a writer that streams each finding
// as it comes (ndjson, ecs) may keep f's bytes, after those of the
// findings it kept before, until its next Write, Release or Close, or
// until it keeps 64 KiB: a caller that knows more findings are queued
// behind f gives them all but the last to WriteHeld, so that a run of
// findings costs one write to the output, not one each. (To a pipe,
// each write is also a hand-over to the goroutine that lets a signal end
// a stalled write: a port scan's 300,000 findings as ndjson through a
// pipe took 4.8 s, against 3.2 s to /dev/null.) An error of a write
// of held findings is returned by the call that made it.
func WriteHeld(w Writer, f *heuristics.Finding) error {
	h, ok := w.(holder)
	if !ok {
		return w.Write(f)
	}
	s := h.heldSink()
	s.hold = true
	err := w.Write(f)
	s.hold = false
	return err
}

// Release writes the findings that WriteHeld kept in w, if any.
func Release(w Writer) error {
	h, ok := w.(holder)
	if !ok {
		return nil
	}
	s := h.heldSink()
	s.flush()
	return s.err
}

// holder is a Writer whose findings WriteHeld may keep.
type holder interface{ heldSink() *sink }

// Summary is what was read, for the document header and the "stats"
// object of the JSON contract.
type Summary struct {
	Tool    string
	Version string
	Inputs  []string
	Stats   Stats
	// First/Last capture time seen (zero when no packet).
	First, Last time.Time
	// Warnings to show in the report (e.g. truncated input).
	Warnings []string
	// Filter names the finding filters given (Filter.String), to say what
	// left findings out.
	Filter string
}

// noFindings is the summary's line when no finding is shown: none found,
// or all filtered out, and by what.
func noFindings(s Summary) string {
	if s.Stats.Filtered == 0 {
		if nd := s.Stats.notDecoded(); nd != "" {
			// Not "No RST found": RSTs may hide in what was not decoded.
			were := " were"
			if s.Stats.Packets == 1 {
				were = " was"
			}
			return fmt.Sprintf("%d of %s%s TCP; %s.", s.Stats.TCPPackets, plural(s.Stats.Packets, "packet", "packets"), were, nd)
		}
		return "No RST found."
	}
	by := ""
	if s.Filter != "" {
		by = " by " + s.Filter
	}
	return fmt.Sprintf("%s · all %s filtered out%s.", plural(s.Stats.RSTPackets, "RST", "RSTs"), plural(s.Stats.Filtered, "finding", "findings"), by)
}

// NotDecoded is how many frames may hide TCP for one reason: "UDP/2152
// (GTP-U)", "EtherType 0x88e5 (MACsec)", or "other" for reasons past the
// capture's bound.
type NotDecoded struct {
	Reason  string `json:"reason"`
	Packets uint64 `json:"packets"`
}

// notDecoded says what may hide TCP: "27 UDP/2152 (GTP-U) not decoded",
// or "" when nothing may.
func (st *Stats) notDecoded() string {
	if len(st.NotDecoded) == 0 {
		return ""
	}
	parts := make([]string, len(st.NotDecoded))
	for i, nd := range st.NotDecoded {
		parts[i] = fmt.Sprintf("%d %s", nd.Packets, Sanitize(nd.Reason, maxShort))
	}
	return strings.Join(parts, ", ") + " not decoded"
}

// Stats is the "stats" object of the JSON contract.
type Stats struct {
	Packets         uint64 `json:"packets"`
	TCPPackets      uint64 `json:"tcp_packets"`
	TCPFlows        uint64 `json:"tcp_flows"`
	RSTPackets      uint64 `json:"rst_packets"`
	Findings        uint64 `json:"findings"` // set by the Writer: findings written
	Undecodable     uint64 `json:"undecodable"`
	TruncatedInput  bool   `json:"truncated_input"`
	DroppedByKernel uint64 `json:"dropped_by_kernel"`
	// NotDecoded counts the frames that may hide TCP inside something not
	// decoded (a tunnel, an EtherType, a link type), by reason.
	NotDecoded []NotDecoded `json:"not_decoded,omitempty"`
	// DroppedByInterface is libpcap's ps_ifdrop (live only).
	DroppedByInterface uint64 `json:"dropped_by_interface,omitempty"`
	DroppedFlows       uint64 `json:"dropped_flows"`
	FlowsEndedEarly    uint64 `json:"flows_ended_early,omitempty"` // to make room under --max-flows
	Filtered           uint64 `json:"filtered_out"`                // findings left out by --cause/--origin/... filters
	// Kernel is the host kernel's account of the RSTs (--kernel-reasons,
	// --kernel-events); nil when it was not asked for or not available.
	Kernel *KernelStats `json:"kernel,omitempty"`
}

// KernelStats is "stats.kernel": how many RST findings the kernel's events
// joined, and how many events the kernel lost (ring full), for which a
// missing join proves nothing.
type KernelStats struct {
	RSTs   uint64 `json:"rsts"`        // findings judged with the kernel's account
	Joined uint64 `json:"joined"`      // of those, findings a kernel event joined
	Events uint64 `json:"events"`      // kernel events read
	Lost   uint64 `json:"events_lost"` // kernel events lost
}

// String is the summary line's text: "7 of 9 RSTs joined, 0 events lost".
func (k KernelStats) String() string {
	return fmt.Sprintf("%d of %d RSTs joined, %s lost", k.Joined, k.RSTs, plural(k.Lost, "event", "events"))
}

// Options configures a Writer.
type Options struct {
	Color bool // text: ANSI colour when the output supports it (false: plain ASCII profile)
	// Width (text) is the wrap width in cells; 0 means the terminal's width
	// (at most 120) when the output is a terminal, else 100. Values below 40
	// are raised to 40.
	Width int
	// Stream (text only): print each card as its finding is written and the
	// header and summary at Close (live mode). Otherwise the header and
	// summary come first and the cards, sorted, follow at Close.
	Stream bool
	// Quiet (text, markdown, json): the header and summary only, no
	// finding (-q); ndjson writes its summary line only. ecs has no
	// summary, so New refuses Quiet for it.
	Quiet bool
	// Location (text and markdown) is where absolute times are shown,
	// with their zone; nil means UTC. JSON is always UTC (RFC 3339).
	Location *time.Location
	// Observer (ecs only) names the sensor in observer.*.
	Observer Observer
}

// Formats lists the valid format names, in the order help text shows them.
var Formats = []string{"text", "json", "ndjson", "markdown", "ecs"}

// New returns the Writer for format ("text", "json", "ndjson",
// "markdown" or "ecs") writing to w.
func New(format string, w io.Writer, opts Options) (Writer, error) {
	switch format {
	case "text":
		return newText(w, opts, nil), nil
	case "json":
		return newJSON(w, opts), nil
	case "ndjson":
		return newNDJSON(w, opts), nil
	case "markdown":
		return newMarkdown(w, opts), nil
	case "ecs":
		if opts.Quiet {
			return nil, errors.New("report: ecs: no summary to write quietly (ECS documents are findings only)")
		}
		return newECS(w, opts.Observer), nil
	}
	return nil, fmt.Errorf("report: unknown format %q (valid: %s)", format, strings.Join(Formats, ", "))
}

var (
	errClosed     = errors.New("report: writer is closed")
	errNilFinding = errors.New("report: nil finding")
)

// sink is the error-keeping output shared by every Writer.
type sink struct {
	w      io.Writer
	err    error
	closed bool
	// hold: write keeps its bytes in held (until holdMax of them) and
	// flush does nothing (WriteHeld); the next write without hold
	// writes them first.
	hold bool
	held []byte
}

// holdMax is how many bytes WriteHeld keeps before it writes them.
const holdMax = 64 << 10

// write writes b unless an earlier write failed (with hold, keeps it).
func (s *sink) write(b []byte) {
	if s.err != nil {
		return
	}
	if s.hold || len(s.held) > 0 {
		if s.hold || len(b) < holdMax {
			s.held = append(s.held, b...) // one write of both below
			if s.hold && len(s.held) < holdMax {
				return
			}
			b = s.held
		} else if !s.writeOut(s.held) {
			return
		}
		s.held = s.held[:0]
	}
	s.writeOut(b)
}

// writeOut writes b to w and reports whether it did (else s.err says why).
func (s *sink) writeOut(b []byte) bool {
	if _, err := s.w.Write(b); err != nil {
		s.err = fmt.Errorf("report: write: %w", err)
		return false
	}
	return true
}

// flush writes what was held and flushes w when it buffers (e.g. a
// *bufio.Writer), so that streamed lines reach a pipe promptly; with
// hold, it does nothing.
func (s *sink) flush() {
	if s.err != nil || s.hold {
		return
	}
	if len(s.held) > 0 {
		ok := s.writeOut(s.held)
		s.held = s.held[:0]
		if !ok {
			return
		}
	}
	if f, ok := s.w.(interface{ Flush() error }); ok {
		if err := f.Flush(); err != nil {
			s.err = fmt.Errorf("report: flush: %w", err)
		}
	}
}

// check is called at the start of Write.
func (s *sink) check(f *heuristics.Finding) error {
	if s.closed {
		return errClosed
	}
	if f == nil {
		s.fail(errNilFinding)
		return errNilFinding
	}
	return s.err
}

// fail records err if it is the first error.
func (s *sink) fail(err error) {
	if s.err == nil {
		s.err = err
	}
}

// finish marks the sink closed and returns the first error.
func (s *sink) finish() error {
	if s.closed {
		if s.err != nil {
			return s.err
		}
		return errClosed
	}
	s.closed = true
	s.flush()
	return s.err
}

// document keeps the findings of a writer that writes them all at Close
// (in a store, which spills them to a temporary file past spillAfter) and
// counts them as they come.
type document struct {
	out   sink
	held  store
	tally tally
	quiet bool // Options.Quiet: count only
}

// Write counts f and keeps a copy of it.
func (d *document) Write(f *heuristics.Finding) error {
	if err := d.out.check(f); err != nil {
		return err
	}
	d.tally.add(f)
	if d.quiet {
		return nil
	}
	if err := d.held.add(f); err != nil {
		d.out.fail(err)
		return err
	}
	return nil
}

// n is the number of findings written.
func (d *document) n() int { return d.tally.n }

// sortFindings orders findings by RST time, then frame, then input; equal
// keys keep their write order. It then numbers them 1..n.
func sortFindings(fs []heuristics.Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := &fs[i].RST, &fs[j].RST
		if !a.Time.Equal(b.Time.Time) {
			return a.Time.Before(b.Time.Time)
		}
		if a.Packet != b.Packet {
			return a.Packet < b.Packet
		}
		return a.Input < b.Input
	})
	var ids echoIDs
	for i := range fs {
		fs[i].ID = i + 1
		ids.resolve(&fs[i])
	}
}

// echoIDs resolves a finding's Echoes (the first RST of the finding it
// echoes) into consequence_of as findings are numbered: it remembers the
// IDs of findings that can be echoed (a forged reset: origin middlebox),
// the last maxEchoIDs of them, so that a long live run stays bounded.
type echoIDs struct {
	ids   map[heuristics.RSTRef]int
	order []heuristics.RSTRef
}

const maxEchoIDs = 4096

// resolve sets f.ConsequenceOf from an earlier finding (0 when that one
// was not written, e.g. filtered out) and remembers f if it may be echoed.
func (e *echoIDs) resolve(f *heuristics.Finding) {
	if f.Echoes != nil {
		f.ConsequenceOf = e.ids[*f.Echoes]
	}
	if f.Origin != heuristics.OriginMiddlebox {
		return
	}
	if e.ids == nil {
		e.ids = map[heuristics.RSTRef]int{}
	}
	if len(e.order) >= maxEchoIDs {
		delete(e.ids, e.order[0])
		e.order = e.order[1:]
	}
	ref := heuristics.RSTRef{Input: f.RST.Input, Packet: f.RST.Packet}
	e.order = append(e.order, ref)
	e.ids[ref] = f.ID
}

// tally counts findings by cause, origin and resetter, for summaries. It
// keeps counts only, so a long live run does not keep its findings. The
// per-endpoint counts (resetters, groups) are kept only when detail is
// set (text and markdown print them; JSON does not), in compact maps: a
// million findings with as many servers cost about 370 MB in markdown
// (TestDocument_memoryBounded with 60,000 and 120,000 findings; the
// host groups, group.go, about 120 MB of it, the resetters' hosts about
// 50 MB).
type tally struct {
	n         int // findings
	cause     map[heuristics.Cause]int
	origin    map[heuristics.Origin]int
	detail    bool                  // track resetters and groups
	resetters map[uint64]struct{}   // the endpoints that really sent RSTs, by resetter hash
	resetHost map[uint64]hostResets // RST packets by host (the endpoint's address alone)
	top       []resetterCount       // the topResetterMax hosts with most (see addResetter)
	groups    map[uint64]groupInfo
	names     map[uint64]groupKey  // of groups with GroupMin findings or more
	hosts     map[uint64]hostGroup // by hostHash: a server host's findings over all its ports
	hostNames map[uint64]groupKey  // of host groups over GroupMin ports or more
	clamped   int                  // findings with a time RFC 3339 cannot write
}

// resetter is who really sent a finding's RSTs (its origin) and the
// endpoint: the server's address and port; the client's address alone
// (its ports are ephemeral, so a browser's many closes add up); for a
// middlebox or an unknown origin, the endpoint the RST claimed to be,
// with Claimed the side it claimed.
type resetter struct {
	Origin  heuristics.Origin
	Addr    netip.AddrPort // invalid when unknown
	IPOnly  bool           // Addr's port is not part of it (a client)
	Claimed heuristics.Side
}

// resetterOf is the endpoint that really sent f's RSTs.
func resetterOf(f *heuristics.Finding) resetter {
	r := resetter{Origin: f.Origin}
	side := f.RST.From
	switch f.Origin {
	case heuristics.OriginServer:
		side = heuristics.SideServer
	case heuristics.OriginClient:
		side = heuristics.SideClient
	default:
		r.Claimed = side
	}
	switch side {
	case heuristics.SideServer:
		r.Addr = f.Flow.Server
	case heuristics.SideClient:
		r.Addr, r.IPOnly = netip.AddrPortFrom(f.Flow.Client.Addr(), 0), true
	}
	return r
}

// Side says which side the resetter is, as the summaries print it:
// "server", "client", "middlebox (as server)", "unknown (as client)".
func (r resetter) Side() string {
	if r.Origin == heuristics.OriginServer || r.Origin == heuristics.OriginClient {
		return string(r.Origin)
	}
	if r.Claimed == heuristics.SideUnknown {
		return string(r.Origin)
	}
	return string(r.Origin) + " (as " + r.Claimed.String() + ")"
}

// addrOrUnknown is the address as the summaries print it.
func (r resetter) addrOrUnknown() string {
	switch {
	case !r.Addr.Addr().IsValid():
		return "unknown address"
	case r.IPOnly:
		return r.Addr.Addr().String()
	}
	return addrText(r.Addr)
}

func (t *tally) add(f *heuristics.Finding) {
	if t.cause == nil {
		t.cause = make(map[heuristics.Cause]int)
		t.origin = make(map[heuristics.Origin]int)
	}
	t.n++
	t.cause[f.Cause]++
	t.origin[f.Origin]++
	if f.RST.Time.Clamped() || f.Flow.Start.Clamped() {
		t.clamped++
	}
	if !t.detail {
		return
	}
	t.addResetter(resetterOf(f), max(f.RST.Count, 1))
	t.addGroup(f)
}

// warnings adds, to the run's warnings, one for clamped times.
func (t *tally) warnings(ws []string) []string {
	if t.clamped == 0 {
		return ws
	}
	return append(slices.Clip(ws), fmt.Sprintf("%s with a capture time outside the years 0000-9999, printed as the nearest of those (RFC 3339 cannot write it)",
		plural(uint64(t.clamped), "finding", "findings")))
}

// addrText is ap as the JSON contract prints it ("" when unknown).
func addrText(ap netip.AddrPort) string {
	b, _ := ap.MarshalText()
	return string(b)
}

// count is one name (a cause or an origin) and how many findings have it.
type count[K ~string] struct {
	Key K
	N   int
}

type (
	causeCount  = count[heuristics.Cause]
	originCount = count[heuristics.Origin]
)

// ordered lists the names with findings in the given order; a name
// outside it goes last, by name.
func ordered[K ~string](m map[K]int, order []K) []count[K] {
	out := []count[K]{}
	for _, k := range order {
		if m[k] > 0 {
			out = append(out, count[K]{k, m[k]})
		}
	}
	var rest []count[K]
	for k, n := range m {
		if !slices.Contains(order, k) {
			rest = append(rest, count[K]{k, n})
		}
	}
	slices.SortFunc(rest, func(a, b count[K]) int { return strings.Compare(string(a.Key), string(b.Key)) })
	return append(out, rest...)
}

// causes lists the causes with findings in AllCauses order, then any
// other: the JSON by_cause object, whose key order stays fixed.
func (t *tally) causes() []causeCount { return ordered(t.cause, heuristics.AllCauses) }

// rootsByCount lists the root causes with findings (roots), most
// findings first (ties in AllCauses order): the summaries' "By cause".
func (t *tally) rootsByCount() []causeCount {
	cs := t.roots()
	slices.SortStableFunc(cs, func(a, b causeCount) int { return b.N - a.N })
	return cs
}

// roots is causes without the consequences (after_reset), which summaries
// count apart as echoes.
func (t *tally) roots() []causeCount {
	return slices.DeleteFunc(t.causes(), func(c causeCount) bool { return c.Key.Consequence() })
}

// echoes counts the findings that echo an earlier reset.
func (t *tally) echoes() int {
	n := 0
	for c, k := range t.cause {
		if c.Consequence() {
			n += k
		}
	}
	return n
}

// origins lists the origins with findings in AllOrigins order, then any
// other.
func (t *tally) origins() []originCount { return ordered(t.origin, heuristics.AllOrigins) }

// hostResets is what one resetting host sent: its RSTs, and its
// endpoints (ports) that sent them, the first few of them by number.
type hostResets struct {
	rsts, ports uint32
	some        [portsListed]uint16 // the first ports seen: min(ports, portsListed) of them
}

// portsListed: a resetter's ports are listed while it has this many or
// fewer (a server's port or two, a load balancer's 80 and 443); past that
// the summaries say how many.
const portsListed = 3

// resetterCount is one resetting host, the RST packets it really sent and
// from how many ports: the summaries rank hosts, so that a server that
// refuses a scan on 65,000 ports is one line with all its RSTs, not five
// of its ports with two each.
type resetterCount struct {
	resetter     // the host's first endpoint seen
	RSTs     int // by the host, all its ports
	Ports    int // endpoints of the host that sent them
	some     [portsListed]uint16
	hash     uint64 // the host's (hostKey's hash)
	addr     string // the host's address as printed (addrOrUnknown without the port)
}

// label is the resetter as the summaries list it: the endpoint while the
// host reset from one port (or is a client, whose ports are not told
// apart), "10.0.0.2 (ports 80, 443)" while from a few, else
// "10.0.0.2 (250 ports)".
func (r *resetterCount) label() string {
	switch {
	case r.Ports <= 1:
		return r.addrOrUnknown()
	case r.Ports <= portsListed:
		ps := slices.Clone(r.some[:r.Ports])
		slices.Sort(ps)
		b := []byte(r.addr + " (ports ")
		for i, p := range ps {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = strconv.AppendUint(b, uint64(p), 10)
		}
		return string(append(b, ')'))
	}
	return r.addr + " (" + strconv.Itoa(r.Ports) + " ports)"
}

// before orders resetters as the summaries list them: most RSTs first,
// then by address (IPv4 before IPv6, in numeric order; an unknown one
// first) and side.
func (a *resetterCount) before(b *resetterCount) int {
	return cmp.Or(b.RSTs-a.RSTs, a.Addr.Addr().Compare(b.Addr.Addr()), strings.Compare(a.Side(), b.Side()))
}

// hostKey is r's host: r without its port.
func (r resetter) hostKey() resetter {
	r.Addr, r.IPOnly = netip.AddrPortFrom(r.Addr.Addr(), 0), true
	return r
}

// addResetter counts n RSTs for r's host, and r's endpoint among its
// ports. Only counts are kept per host, and a set of endpoints (by
// hash); the topResetterMax first hosts in summary order are kept whole.
// That list is exact: counts only grow and a host's place in the order
// depends on its own count alone (its address and side are fixed), so a
// host in the final list was, at its last count, ahead of all but at
// most topResetterMax-1 of the list of that moment, and entered it then.
func (t *tally) addResetter(r resetter, n int) {
	if t.resetters == nil {
		t.resetters, t.resetHost = make(map[uint64]struct{}), make(map[uint64]hostResets)
	}
	h := r.hash()
	_, seen := t.resetters[h]
	if !seen {
		t.resetters[h] = struct{}{}
	}
	host := r.hostKey()
	hh := host.hash()
	hr := t.resetHost[hh]
	hr.rsts += uint32(n)
	if !seen {
		if hr.ports < portsListed {
			hr.some[hr.ports] = r.Addr.Port()
		}
		hr.ports++
	}
	t.resetHost[hh] = hr
	for i := range t.top {
		if t.top[i].hash == hh {
			t.top[i].RSTs, t.top[i].Ports, t.top[i].some = int(hr.rsts), int(hr.ports), hr.some
			slices.SortFunc(t.top, func(a, b resetterCount) int { return a.before(&b) })
			return
		}
	}
	e := resetterCount{resetter: r, RSTs: int(hr.rsts), Ports: int(hr.ports), some: hr.some, hash: hh}
	if len(t.top) == topResetterMax {
		worst := &t.top[len(t.top)-1]
		if e.RSTs < worst.RSTs {
			return
		}
		e.addr = host.addrOrUnknown()
		if e.before(worst) >= 0 {
			return
		}
		t.top = t.top[:len(t.top)-1]
	}
	e.addr = host.addrOrUnknown()
	t.top = append(t.top, e)
	slices.SortFunc(t.top, func(a, b resetterCount) int { return a.before(&b) })
}

// hash is r as a 64-bit FNV-1a hash.
func (r resetter) hash() uint64 {
	a := r.Addr.Addr().As16()
	p := r.Addr.Port()
	return fnv64(string(r.Origin), string(a[:]), string([]byte{byte(p >> 8), byte(p), byte(boolInt(r.IPOnly)),
		byte(r.Claimed), byte(boolInt(r.Addr.Addr().Is4())), byte(boolInt(r.Addr.Addr().IsValid()))}))
}

// topResetters returns up to max resetting hosts (at most topResetterMax)
// by RST count (descending, then by address and side).
func (t *tally) topResetters(max int) []resetterCount {
	return t.top[:min(max, len(t.top))]
}

// zoneLayout shows a time in another location than UTC with its offset and
// the zone's name: 2026-01-02T04:04:05.123456+01:00 CET.
const zoneLayout = "2006-01-02T15:04:05.000000-07:00 MST"

// formatTime formats t with microseconds: in UTC (loc nil or UTC),
// 2026-01-02T03:04:05.123456Z, clamped to what RFC 3339 can write
// (heuristics.Instant); in loc (text and markdown with Options.Location)
// with its zone.
func formatTime(t time.Time, loc *time.Location) string {
	if loc == nil || loc == time.UTC {
		return heuristics.Instant{Time: t}.String()
	}
	return t.In(loc).Format(zoneLayout)
}

// span describes the capture time range, or "" when there is none.
func span(s Summary, loc *time.Location) string {
	if s.First.IsZero() {
		return ""
	}
	d := s.Last.Sub(s.First).Round(time.Millisecond)
	return fmt.Sprintf("%s → %s (%s)", formatTime(s.First, loc), formatTime(s.Last, loc), d)
}

// inputName is the input file a finding came from, or "" when unknown.
func inputName(inputs []string, i int) string {
	if i >= 0 && i < len(inputs) {
		return inputs[i]
	}
	return ""
}
