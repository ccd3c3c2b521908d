package lab

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
)

// syncResults collects the scenarios' results from parallel subtests.
type syncResults struct {
	mu  sync.Mutex
	res map[int]result
}

func (s *syncResults) add(i int, r result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.res == nil {
		s.res = map[int]result{}
	}
	s.res[i] = r
}

func (s *syncResults) sorted() []result {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []int
	for k := range s.res {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var out []result
	for _, k := range keys {
		out = append(out, s.res[k])
	}
	return out
}

// writeReadme rewrites README.md from the captures just made.
func writeReadme(res []result) error {
	var b strings.Builder
	b.WriteString(`# Lab captures (real kernel resets)

Made by ` + "`make lab-pcaps`" + ` (RSTSCOPE_LAB_SAVE=1 go test -run TestLab ./pcaps/lab/, as root):
five network namespaces client (10.77.1.2, fd00:77:1::2) — router1 — router2 — router3 —
server (10.77.3.2, fd00:77:3::2) joined by veth pairs (topo.sh), the client and server being
labpeer/ (Go). Every capture is rstscope's own live capture (libpcap),
` + "`rstscope -i c0 -w X.client.pcap --write-all --format json -o X.json tcp`" + ` inside the client
namespace and the same with ` + "`-i s0`" + ` inside the server's, during the same run. Offloads are off: segments are
wire-sized. TTLs: each end's packets reach the other with 61 (three routers); a router's
forged RST arrives with 64 minus the routers between it and the capture point: at the client
router1's with 64, router2's 63, router3's 62 (one hop nearer than the server); at the server
router3's with 64, router2's 63, router1's 62. scenarios.go holds the correct verdict of each
RST (cause, origin, highest confidence the capture allows, evidence, request; issue 13), the
real assertion; a verdict rstscope gets wrong today is marked known-wrong with its issue 13
class. This file is generated.

## Recipes

`)
	for _, r := range res {
		fmt.Fprintf(&b, "- `%s.client.pcap` (client veth c0): %s%s\n", r.sc.name, ipVersion(r.sc), r.sc.why)
		fmt.Fprintf(&b, "- `%s.server.pcap` (server veth s0): the same run seen at the server%s\n", r.sc.name, serverNote(r.sc))
	}
	b.WriteString(`
## RSTs in the captures

The RST's flags, TTL and IPv4 ID next to those of the packets the claimed sender sent
before it in the same flow (last one shown). Correct is scenarios.go's cause/origin.

| scenario | capture | frame | RST from | flags | TTL | IP ID | window | claimed sender's packets: TTL, last IP ID | made by | correct |
|---|---|---|---|---|---|---|---|---|---|---|
`)
	for _, r := range res {
		rsts := 0
		for _, s := range []struct {
			side string
			pkts []tcpPacket
		}{{"client", r.client.packets}, {"server", r.server.packets}} {
			seen := r.sc.seenAt(s.side)
			n := 0
			var prev tcpPacket
			for _, p := range s.pkts {
				if !p.has(tcpRST) {
					continue
				}
				// the RSTs of a burst share one expectation
				if n > 0 && n <= len(seen) && seen[n-1].burst && p.Src == prev.Src {
					n--
				}
				prev = p
				var w wantRST
				if n < len(seen) {
					w = seen[n]
				}
				n++
				rsts++
				vd := w.at(s.side)
				fmt.Fprintf(&b, "| %s | %s | %d | %v | %s | %d | %s | %d | %s | %s | %s/%s%s |\n",
					r.sc.name, s.side, p.Index, p.Src, p.flagString(), p.TTL, ipID(p), p.Window,
					senderBefore(s.pkts, p), w.by, vd.Cause, vd.Origin, knownWrongNote(vd))
			}
		}
		if rsts == 0 {
			fmt.Fprintf(&b, "| %s | both | | no RST | | | | | | | no finding |\n", r.sc.name)
		}
	}
	return os.WriteFile("README.md", []byte(b.String()), 0o644)
}

func ipVersion(sc scenario) string {
	if sc.v6 {
		return "IPv6: "
	}
	return ""
}

// serverNote says which of the run's RSTs the server side does not see.
func serverNote(sc scenario) string {
	for _, w := range sc.rsts {
		if w.by.router() > 0 && !w.toServer {
			return fmt.Sprintf(" (%s's RST to the client does not reach it)", w.by)
		}
	}
	return ""
}

// knownWrongNote marks a verdict rstscope gets wrong today.
func knownWrongNote(vd Verdict) string {
	if vd.KnownWrong == "" {
		return ""
	}
	return " (known wrong: " + vd.KnownWrong + ")"
}

func ipID(p tcpPacket) string {
	if !p.Src.Addr().Is4() {
		return "-"
	}
	df := ""
	if p.DF {
		df = " DF"
	}
	return fmt.Sprintf("%d%s", p.IPID, df)
}

// senderBefore describes the non-RST packets from rst's source in its flow
// (same address and port pair) before it.
func senderBefore(pkts []tcpPacket, rst tcpPacket) string {
	var ttls []uint8
	var last tcpPacket
	n := 0
	for _, p := range pkts {
		if p.Index >= rst.Index {
			break
		}
		if p.has(tcpRST) || p.Src != rst.Src || p.Dst != rst.Dst {
			continue
		}
		if n == 0 || ttls[len(ttls)-1] != p.TTL {
			ttls = append(ttls, p.TTL)
		}
		last = p
		n++
	}
	if n == 0 {
		// a lone RST to a SYN: the host's packets in other flows
		for _, p := range pkts {
			if p.Index < rst.Index && !p.has(tcpRST) && p.Src.Addr() == rst.Src.Addr() {
				if n == 0 || ttls[len(ttls)-1] != p.TTL {
					ttls = append(ttls, p.TTL)
				}
				last = p
				n++
			}
		}
		if n == 0 {
			return "none"
		}
		return fmt.Sprintf("none in this flow; host: %d pkts, TTL %s, IP ID %s", n, joinTTLs(ttls), ipID(last))
	}
	return fmt.Sprintf("%d pkts, TTL %s, IP ID %s", n, joinTTLs(ttls), ipID(last))
}

func joinTTLs(ttls []uint8) string {
	var ts []string
	for _, t := range ttls {
		ts = append(ts, fmt.Sprint(t))
	}
	return strings.Join(ts, "/")
}
