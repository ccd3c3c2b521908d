package report

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/rstscope/rstscope/heuristics"
)

// Filter selects findings for every output format (--cause, --origin,
// --min-confidence, --host). The zero Filter keeps everything.
type Filter struct {
	Causes        map[heuristics.Cause]bool
	Origins       map[heuristics.Origin]bool
	MinConfidence heuristics.Confidence
	Hosts         []HostMatch
	desc          string // the flags as given, for String
}

// String gives the filter as its flags: "--min-confidence high".
func (flt *Filter) String() string { return flt.desc }

// HostMatch is one --host value: an address, optionally with a port, or a
// CIDR prefix (Addr is then the zero Addr).
type HostMatch struct {
	Addr   netip.Addr
	Port   uint16 // 0 means any port
	Prefix netip.Prefix
}

// ParseFilter builds a Filter from the command-line values: comma-separated
// causes and origins, a confidence name, and ADDR[:PORT] hosts (IPv6 with a
// port as [addr]:port). Empty values select everything.
func ParseFilter(causes, origins, minConfidence string, hosts []string) (Filter, error) {
	var f Filter
	var err error
	if f.Causes, err = parseSet(causes, heuristics.ParseCause); err != nil {
		return f, fmt.Errorf("--cause: %w%s", err, suggest(causes, heuristics.AllCauses))
	}
	if f.Origins, err = parseSet(origins, heuristics.ParseOrigin); err != nil {
		return f, fmt.Errorf("--origin: %w", err)
	}
	if minConfidence != "" {
		c, err := heuristics.ParseConfidence(minConfidence)
		if err != nil {
			return f, fmt.Errorf("--min-confidence: %w", err)
		}
		f.MinConfidence = c
	}
	for _, h := range hosts {
		m, err := parseHost(h)
		if err != nil {
			return f, fmt.Errorf("--host: %w", err)
		}
		f.Hosts = append(f.Hosts, m)
	}
	var desc []string
	for _, kv := range [][2]string{{"--cause", causes}, {"--origin", origins}, {"--min-confidence", minConfidence}} {
		if kv[1] != "" {
			desc = append(desc, kv[0]+" "+kv[1])
		}
	}
	for _, h := range hosts {
		desc = append(desc, "--host "+h)
	}
	f.desc = strings.Join(desc, " ")
	return f, nil
}

// parseSet parses a comma-separated list into a set; nil when empty.
func parseSet[T comparable](list string, parse func(string) (T, error)) (map[T]bool, error) {
	var set map[T]bool
	for _, s := range splitList(list) {
		v, err := parse(s)
		if err != nil {
			return nil, err
		}
		if set == nil {
			set = make(map[T]bool)
		}
		set[v] = true
	}
	return set, nil
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func parseHost(s string) (HostMatch, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return HostMatch{Addr: ap.Addr().Unmap(), Port: ap.Port()}, nil
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		return HostMatch{Prefix: netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-unmapBits(p.Addr())).Masked()}, nil
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return HostMatch{}, fmt.Errorf("%q is not an address, address:port or CIDR prefix", s)
	}
	return HostMatch{Addr: a.Unmap()}, nil
}

// Keep reports whether f passes the filter.
func (flt *Filter) Keep(f *heuristics.Finding) bool {
	if flt.Causes != nil && !flt.Causes[f.Cause] {
		return false
	}
	if flt.Origins != nil && !flt.Origins[f.Origin] {
		return false
	}
	if f.Confidence < flt.MinConfidence {
		return false
	}
	if len(flt.Hosts) == 0 {
		return true
	}
	for _, h := range flt.Hosts {
		if h.matches(f.Flow.Client) || h.matches(f.Flow.Server) {
			return true
		}
	}
	return false
}

func (h HostMatch) matches(ap netip.AddrPort) bool {
	if h.Prefix.IsValid() {
		return ap.IsValid() && h.Prefix.Contains(ap.Addr().Unmap())
	}
	return ap.IsValid() && ap.Addr().Unmap() == h.Addr && (h.Port == 0 || ap.Port() == h.Port)
}

// unmapBits is how many prefix bits an IPv4-mapped IPv6 address spends on
// its ::ffff: part.
func unmapBits(a netip.Addr) int {
	if a.Is4In6() {
		return 96
	}
	return 0
}

// suggest lists the valid names and the one nearest to the first name of
// list that is not valid, for an error.
func suggest[T ~string](list string, valid []T) string {
	names := make([]string, len(valid))
	for i, v := range valid {
		names[i] = string(v)
	}
	var s string
	for _, item := range splitList(list) {
		if !slices.Contains(names, item) {
			s = item
			break
		}
	}
	best, bestD := "", len(s)/2+2 // farther than this is no suggestion
	for _, v := range names {
		if d := editDistance(s, v); d < bestD {
			best, bestD = v, d
		}
	}
	hint := ""
	if best != "" {
		hint = fmt.Sprintf(" (did you mean %s?)", best)
	}
	return hint + "; valid: " + strings.Join(names, ", ")
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
