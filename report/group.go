package report

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

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

// rstAt is where a finding's RST sorts: time, frame, input.
type rstAt struct {
	Time  heuristics.Instant
	Frame uint64
	Input int
}

func rstAtOf(f *heuristics.Finding) rstAt { return rstAt{f.RST.Time, f.RST.Packet, f.RST.Input} }

func (a rstAt) compare(b rstAt) int {
	return cmp.Or(a.Time.Compare(b.Time.Time), cmp.Compare(a.Frame, b.Frame), cmp.Compare(a.Input, b.Input))
}

// groupInfo counts one group and keeps its first and last RST.
type groupInfo struct {
	N           int
	First, Last rstAt
}

// addGroup counts f in its group.
func (t *tally) addGroup(f *heuristics.Finding) {
	if t.groups == nil {
		t.groups = make(map[groupKey]groupInfo)
	}
	k, at := groupKeyOf(f), rstAtOf(f)
	g, ok := t.groups[k]
	if !ok || at.compare(g.First) < 0 {
		g.First = at
	}
	if !ok || at.compare(g.Last) > 0 {
		g.Last = at
	}
	g.N++
	t.groups[k] = g
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
	for k, g := range t.groups {
		if g.N >= GroupMin {
			out = append(out, group{k, g})
		}
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
	shown map[groupKey]bool
}

// fold reports whether f's card is left out.
func (fo *folder) fold(f *heuristics.Finding) bool {
	k := groupKeyOf(f)
	if fo.t.groups[k].N < GroupMin {
		return false
	}
	if fo.shown == nil {
		fo.shown = make(map[groupKey]bool)
	}
	if fo.shown[k] {
		return true
	}
	fo.shown[k] = true
	return false
}

// folds reports whether a streamed card is left out: its group already
// printed GroupMin-1 cards (f is counted already).
func (t *tally) folds(f *heuristics.Finding) bool { return t.groups[groupKeyOf(f)].N >= GroupMin }

// where describes a group's first or last RST: "frame 12 at <time>".
func (a rstAt) where(inputs []string) string {
	s := "frame " + strconv.FormatUint(a.Frame, 10)
	if len(inputs) > 1 {
		s += " of " + Sanitize(inputName(inputs, a.Input), maxShort)
	}
	return s + " at " + a.Time.String()
}

// groupLine describes a group in one sentence.
func (g group) line(inputs []string) string {
	server := g.Server
	if server == "" {
		server = "unknown"
	}
	return strconv.Itoa(g.N) + " × " + Sanitize(string(g.Cause), maxShort) + " · origin " + Sanitize(string(g.Origin), maxShort) +
		" · server " + Sanitize(server, maxShort) + " · first " + g.First.where(inputs) + " · last " + g.Last.where(inputs)
}
