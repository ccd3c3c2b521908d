package report

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rstscope/rstscope/heuristics"
)

// GroupMin is how many findings with the same cause, origin and server
// make a group. Text and markdown print one line for a group (its count
// and the first and last RST) and the card of its first finding only, so
// that 3,000 browser closes do not bury the one middlebox reset. Ten is
// past what a person reads card by card and below what a retrying client
// or a scan produces. A live (streamed) text report prints the first
// GroupMin-1 cards of each group as they come and folds the rest. JSON
// and ndjson list every finding.
const GroupMin = 10

// groupKey is what makes findings similar.
type groupKey struct {
	Cause  heuristics.Cause
	Origin heuristics.Origin
	Server string
}

func groupKeyOf(f *heuristics.Finding) groupKey {
	return groupKey{f.Cause, f.Origin, addrText(f.Flow.Server)}
}

// groupHash is f's groupKey as a 64-bit FNV-1a hash, the key of the
// tally's group counts (one small entry per key, no string kept until a
// group is big). Deterministic, so the output is.
func groupHash(f *heuristics.Finding) uint64 {
	a := f.Flow.Server.Addr().As16()
	p := f.Flow.Server.Port()
	return fnv64(string(f.Cause), string(f.Origin), string(append(a[:], byte(p>>8), byte(p),
		byte(boolInt(f.Flow.Server.Addr().Is4())), byte(boolInt(f.Flow.Server.IsValid())))))
}

// fnv64 is the FNV-1a hash of the parts, each followed by 0xff (no byte
// of a name is 0xff; the binary part is last and fixed in length).
func fnv64(parts ...string) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	for _, p := range parts {
		for i := 0; i < len(p); i++ {
			h = (h ^ uint64(p[i])) * prime
		}
		h = (h ^ 0xff) * prime
	}
	return h
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// rstAt is where a finding's RST sorts: time, frame, input (24 bytes).
type rstAt struct {
	sec   int64
	nsec  int32
	input int32
	frame uint64
}

func rstAtOf(f *heuristics.Finding) rstAt {
	t := f.RST.Time.Time
	return rstAt{t.Unix(), int32(t.Nanosecond()), int32(f.RST.Input), f.RST.Packet}
}

func (a rstAt) compare(b rstAt) int {
	return cmp.Or(cmp.Compare(a.sec, b.sec), cmp.Compare(a.nsec, b.nsec), cmp.Compare(a.frame, b.frame), cmp.Compare(a.input, b.input))
}

// groupInfo counts one group and keeps its first and last RST.
type groupInfo struct {
	N           uint32
	First, Last rstAt
}

// addGroup counts f in its group; a group that reaches GroupMin keeps
// its names.
func (t *tally) addGroup(f *heuristics.Finding) {
	if t.groups == nil {
		t.groups = make(map[uint64]groupInfo)
		t.names = make(map[uint64]groupKey)
	}
	h, at := groupHash(f), rstAtOf(f)
	g, ok := t.groups[h]
	if !ok || at.compare(g.First) < 0 {
		g.First = at
	}
	if !ok || at.compare(g.Last) > 0 {
		g.Last = at
	}
	g.N++
	t.groups[h] = g
	if g.N == GroupMin {
		t.names[h] = groupKeyOf(f)
	}
}

// group is one group as the summaries list it.
type group struct {
	groupKey
	groupInfo
}

// bigGroups lists the groups of at least GroupMin findings, largest
// first (then by cause, origin, server).
func (t *tally) bigGroups() []group {
	var out []group
	for h, k := range t.names {
		out = append(out, group{k, t.groups[h]})
	}
	slices.SortFunc(out, func(a, b group) int {
		return cmp.Or(cmp.Compare(b.N, a.N), strings.Compare(string(a.Cause), string(b.Cause)),
			strings.Compare(string(a.Origin), string(b.Origin)), strings.Compare(a.Server, b.Server))
	})
	return out
}

// folder decides, as a document's findings come back in order, which
// cards a group keeps: the first of each group of GroupMin or more.
type folder struct {
	t     *tally
	shown map[uint64]bool
}

// fold reports whether f's card is left out.
func (fo *folder) fold(f *heuristics.Finding) bool {
	h := groupHash(f)
	if fo.t.groups[h].N < GroupMin {
		return false
	}
	if fo.shown == nil {
		fo.shown = make(map[uint64]bool)
	}
	if fo.shown[h] {
		return true
	}
	fo.shown[h] = true
	return false
}

// folds reports whether a streamed card is left out: its group already
// printed GroupMin-1 cards (f is counted already).
func (t *tally) folds(f *heuristics.Finding) bool { return t.groups[groupHash(f)].N >= GroupMin }

// where describes a group's first or last RST: "frame 12 at <time>".
func (a rstAt) where(inputs []string, loc *time.Location) string {
	s := "frame " + strconv.FormatUint(a.frame, 10)
	if len(inputs) > 1 {
		s += " of " + Sanitize(inputName(inputs, int(a.input)), maxShort)
	}
	return s + " at " + formatTime(time.Unix(a.sec, int64(a.nsec)).UTC(), loc)
}

// groupLine describes a group in one sentence.
func (g group) line(inputs []string, loc *time.Location) string {
	server := g.Server
	if server == "" {
		server = "unknown"
	}
	return strconv.FormatUint(uint64(g.N), 10) + " × " + Sanitize(string(g.Cause), maxShort) + " · origin " + Sanitize(string(g.Origin), maxShort) +
		" · server " + Sanitize(server, maxShort) + " · first " + g.First.where(inputs, loc) + " · last " + g.Last.where(inputs, loc)
}
