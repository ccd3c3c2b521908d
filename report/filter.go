package report

import (
	"fmt"
	"net/netip"
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
}

// HostMatch is one --host value: an address, optionally with a port.
type HostMatch struct {
	Addr netip.Addr
	Port uint16 // 0 means any port
}

// ParseFilter builds a Filter from the command-line values: comma-separated
// causes and origins, a confidence name, and ADDR[:PORT] hosts (IPv6 with a
// port as [addr]:port). Empty values select everything.
func ParseFilter(causes, origins, minConfidence string, hosts []string) (Filter, error) {
	var f Filter
	var err error
	if f.Causes, err = parseSet(causes, heuristics.ParseCause); err != nil {
		return f, fmt.Errorf("--cause: %w", err)
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
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return HostMatch{}, fmt.Errorf("%q is not an address or address:port", s)
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
	return ap.IsValid() && ap.Addr().Unmap() == h.Addr && (h.Port == 0 || ap.Port() == h.Port)
}
