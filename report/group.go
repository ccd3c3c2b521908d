package report

import (
	"cmp"
	"fmt"
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
//
// A server host whose findings of one cause and origin come from
// GroupMin or more of its ports is one group as well, over all those
// ports (a host group): a port scan refused by the kernel makes one
// finding a port, so no port's group reached GroupMin, and a 200,000-port
// scan printed 200,000 cards. Its port groups are not listed apart.
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

// hostHash is f's cause, origin and server address (not its port) as a
// 64-bit FNV-1a hash, the key of the tally's host groups; ok is false for
// a finding with no server address.
func hostHash(f *heuristics.Finding) (h uint64, ok bool) {
	if !f.Flow.Server.IsValid() {
		return 0, false
	}
	a := f.Flow.Server.Addr().As16()
	return fnv64(string(f.Cause), string(f.Origin), "host", string(append(a[:], byte(boolInt(f.Flow.Server.Addr().Is4()))))), true
}

// hostGroup counts the findings of one cause and origin from one server
// address, and the ports they came from (each port's first finding adds
// one). Its first and last RST are its port groups' (bigGroups): 8 bytes
// a host, as a million findings from as many servers make a million.
type hostGroup struct {
	N, Ports uint32
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

// groupInfo counts one group and keeps its first and last RST; host is
// its host group's hash (hostHash; 0 for findings with no server address).
type groupInfo struct {
	N           uint32
	First, Last rstAt
	host        uint64
}

// addGroup counts f in its group and its host group; a group that
// reaches GroupMin findings, or a host group GroupMin ports, keeps its
// names.
func (t *tally) addGroup(f *heuristics.Finding) {
	if t.groups == nil {
		t.groups = make(map[uint64]groupInfo)
		t.names = make(map[uint64]groupKey)
		t.hosts = make(map[uint64]hostGroup)
		t.hostNames = make(map[uint64]groupKey)
	}
	h, at := groupHash(f), rstAtOf(f)
	hh, valid := hostHash(f)
	g, ok := t.groups[h]
	g.add(at, ok)
	g.host = hh
	t.groups[h] = g
	if g.N == GroupMin {
		t.names[h] = groupKeyOf(f)
	}
	if !valid {
		return
	}
	hg := t.hosts[hh]
	hg.N++
	if !ok {
		hg.Ports++ // f is its port's first
		if hg.Ports == GroupMin {
			t.hostNames[hh] = groupKey{f.Cause, f.Origin, f.Flow.Server.Addr().String()}
		}
	}
	t.hosts[hh] = hg
}

// add counts a finding whose RST is at; known: g has counted one before.
func (g *groupInfo) add(at rstAt, known bool) {
	if !known || at.compare(g.First) < 0 {
		g.First = at
	}
	if !known || at.compare(g.Last) > 0 {
		g.Last = at
	}
	g.N++
}

// hostGrouped reports whether f falls in a host group (GroupMin ports or
// more), and that group's hash.
func (t *tally) hostGrouped(f *heuristics.Finding) (uint64, bool) {
	hh, ok := hostHash(f)
	return hh, ok && t.hosts[hh].Ports >= GroupMin
}

// group is one group as the summaries list it: a port's (Ports 0) or a
// host's.
type group struct {
	groupKey
	groupInfo
	Ports uint32
}

// bigGroups lists the groups of at least GroupMin findings and the host
// groups, largest first (then by cause, origin, server). A port group
// inside a host group is not listed: the host group counts its findings.
func (t *tally) bigGroups() []group {
	var out []group
	if len(t.hostNames) > 0 {
		// A host group's first and last RST: its port groups'.
		spans := make(map[uint64]groupInfo, len(t.hostNames))
		for _, g := range t.groups {
			if _, big := t.hostNames[g.host]; !big || g.host == 0 {
				continue
			}
			s, known := spans[g.host]
			if !known || g.First.compare(s.First) < 0 {
				s.First = g.First
			}
			if !known || g.Last.compare(s.Last) > 0 {
				s.Last = g.Last
			}
			spans[g.host] = s
		}
		for hh, k := range t.hostNames {
			hg, s := t.hosts[hh], spans[hh]
			out = append(out, group{k, groupInfo{N: hg.N, First: s.First, Last: s.Last}, hg.Ports})
		}
	}
	for h, k := range t.names {
		g := t.groups[h]
		if _, inHost := t.hostNames[g.host]; inHost && g.host != 0 {
			continue
		}
		out = append(out, group{k, g, 0})
	}
	slices.SortFunc(out, func(a, b group) int {
		return cmp.Or(cmp.Compare(b.N, a.N), strings.Compare(string(a.Cause), string(b.Cause)),
			strings.Compare(string(a.Origin), string(b.Origin)), strings.Compare(a.Server, b.Server), cmp.Compare(a.Ports, b.Ports))
	})
	return out
}

// repeatedWhat says what the summaries' list of groups holds.
func repeatedWhat(t *tally) string {
	s := fmt.Sprintf("%d or more findings with the same cause, origin and server", GroupMin)
	if t.hasHostGroups() {
		s += fmt.Sprintf(", or with the same cause and origin from %d or more ports of one server", GroupMin)
	}
	return s
}

// hasHostGroups reports whether any host group was made.
func (t *tally) hasHostGroups() bool { return len(t.hostNames) > 0 }

// folder decides, as a document's findings come back in order, which
// cards a group keeps: the first of each group of GroupMin or more, and
// the first of each host group.
type folder struct {
	t                *tally
	shown, shownHost map[uint64]bool
}

// fold reports whether f's card is left out.
func (fo *folder) fold(f *heuristics.Finding) bool {
	if hh, ok := fo.t.hostGrouped(f); ok {
		return shownBefore(&fo.shownHost, hh)
	}
	h := groupHash(f)
	if fo.t.groups[h].N < GroupMin {
		return false
	}
	return shownBefore(&fo.shown, h)
}

// shownBefore reports whether group h has shown its card, and marks it
// shown.
func shownBefore(shown *map[uint64]bool, h uint64) bool {
	if *shown == nil {
		*shown = make(map[uint64]bool)
	}
	if (*shown)[h] {
		return true
	}
	(*shown)[h] = true
	return false
}

// folds reports whether a streamed card is left out: its group already
// printed GroupMin-1 cards, or its server host has reached GroupMin
// ports (f is counted already).
func (t *tally) folds(f *heuristics.Finding) bool {
	if _, ok := t.hostGrouped(f); ok {
		return true
	}
	return t.groups[groupHash(f)].N >= GroupMin
}

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
	return strconv.FormatUint(uint64(g.N), 10) + " × " + Sanitize(string(g.Cause), maxShort) + " · origin " + Sanitize(string(g.Origin), maxShort) +
		" · server " + Sanitize(g.serverText(), maxShort) + " · first " + g.First.where(inputs, loc) + " · last " + g.Last.where(inputs, loc)
}

// serverText names a group's server: its address and port, or for a host
// group its address and how many ports ("192.0.2.7, 4000 ports").
func (g group) serverText() string {
	if g.Server == "" {
		return "unknown"
	}
	if g.Ports == 0 {
		return g.Server
	}
	return g.Server + ", " + plural(uint64(g.Ports), "port", "ports")
}
