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
four network namespaces client (10.77.1.2, fd00:77:1::2) — router1 — router2 — server
(10.77.3.2, fd00:77:3::2) joined by veth pairs (topo.sh), the client and server being
labpeer/ (Go). Every capture is rstscope's own live capture (libpcap),
` + "`rstscope -i c0 -w X.client.pcap --write-all --format json -o X.json tcp`" + ` inside the client
namespace and the same with ` + "`-i s0`" + ` inside the server's, during the same run. Offloads are off: segments are
wire-sized. TTLs: the server's packets reach the client with 62, router1's forged RSTs with 64;
the client's packets reach the server with 62. lab_test.go holds the expected cause and
origin of each RST (the real assertion); this file is generated.

## Recipes

`)
	for _, r := range res {
		fmt.Fprintf(&b, "- `%s.client.pcap` (client veth c0): %s%s\n", r.sc.name, ipVersion(r.sc), r.sc.why)
		fmt.Fprintf(&b, "- `%s.server.pcap` (server veth s0): the same run seen at the server%s\n", r.sc.name, serverNote(r.sc))
	}
	b.WriteString(`
## RSTs in the client captures

The RST's flags, TTL and IPv4 ID next to those of the packets the claimed sender sent
before it in the same flow (last one shown). Expected is lab_test.go's cause/origin.

| scenario | frame | RST from | flags | TTL | IP ID | window | claimed sender's packets: TTL, last IP ID | made by | expected |
|---|---|---|---|---|---|---|---|---|---|
`)
	for _, r := range res {
		rsts := 0
		for _, p := range r.client.packets {
			if !p.has(tcpRST) {
				continue
			}
			var w wantRST
			if rsts < len(r.sc.rsts) {
				w = r.sc.rsts[rsts]
			}
			rsts++
			fmt.Fprintf(&b, "| %s | %d | %v | %s | %d | %s | %d | %s | %s | %s/%s |\n",
				r.sc.name, p.Index, p.Src, p.flagString(), p.TTL, ipID(p), p.Window,
				senderBefore(r.client.packets, p), w.by, w.cause, w.origin)
		}
		if rsts == 0 {
			fmt.Fprintf(&b, "| %s | | no RST | | | | | | | no finding |\n", r.sc.name)
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
		if w.by == byRouter1 {
			return " (router1's RST does not reach it)"
		}
	}
	return ""
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
