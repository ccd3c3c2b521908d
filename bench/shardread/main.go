// Command shardread times a design rstscope does not have yet: every shard
// reads the capture file itself, decodes every packet, and tracks the
// flows its route hash gives it, so that no packet crosses from one core
// to another (rstscope's reader decodes each packet and hands its cache
// lines to a shard on the other core; README, Performance, session 16).
// `make bench` times it in the same rounds as rstscope and the floor.
//
//	go build -o /tmp/shardread ./bench/shardread
//	/tmp/shardread -n 2 pcaps/bench/mix-10200000p-280000f-s128-seed1.pcap
//
// It is a yardstick, not a tool. What the design would do, it does at
// about the same cost: every shard keeps the hosts' profiles from every
// packet (one 64-byte line per IPv4 sender, its TTL and IP ID statistics,
// as rstscope's reader keeps them), tracks its own flows in a flows.Table,
// and judges and writes each event (ndjson, discarded) on the shard's
// goroutine (rstscope judges on a goroutine of its own: on two cores the
// same CPU). On this project's 2-vCPU VM it runs about as fast as
// rstscope (README, Performance, session 16). What it leaves out: the hosts' flow counts merged across the
// shards at each RST's snapshot, and the merge of the shards' findings into
// one time-ordered stream (both once an event, not a packet). What it does
// more: it fully decodes the packets it then skips, where the route hash
// needs only their addresses and ports.
package main

import (
	"flag"
	"fmt"
	"io"
	"math/bits"
	"os"
	"sync"
	"time"

	"github.com/rstscope/rstscope/capture"
	"github.com/rstscope/rstscope/flows"
	"github.com/rstscope/rstscope/heuristics"
	"github.com/rstscope/rstscope/report"
)

func main() {
	n := flag.Int("n", 2, "shards, each reading the whole file")
	flag.Parse()
	if flag.NArg() != 1 || *n < 1 {
		fmt.Fprintln(os.Stderr, "usage: shardread [-n shards] FILE")
		os.Exit(2)
	}
	path := flag.Arg(0)
	events := make([]int, *n)
	packets := make([]int, *n)
	errs := make([]error, *n)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range *n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			events[i], packets[i], errs[i] = shard(path, i, *n)
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	for _, err := range errs {
		if err != nil {
			fmt.Fprintln(os.Stderr, "shardread:", err)
			os.Exit(1)
		}
	}
	fmt.Printf("shards %d, events %v, packets %v, %.3f s\n", *n, events, packets, wall.Seconds())
}

// shard reads path, keeps every sender's host line, and tracks, judges
// and writes the flows whose route hash is i (mod n).
func shard(path string, i, n int) (events, packets int, err error) {
	src, err := capture.OpenFile(path, 0, capture.FileOptions{})
	if err != nil {
		return 0, 0, err
	}
	defer src.Close()
	out, err := report.New("ndjson", io.Discard, report.Options{})
	if err != nil {
		return 0, 0, err
	}
	var engine heuristics.Engine
	t := flows.NewTable(flows.Options{OnEvent: func(ev *flows.Event) {
		events++
		f := engine.Judge(ev)
		out.Write(&f)
	}})
	var hosts hostTable
	var p capture.Packet
	for {
		if err := src.Next(&p); err != nil {
			if err == io.EOF {
				break
			}
			return events, packets, err
		}
		if p.Flags&capture.RST == 0 {
			hosts.packet(&p)
		}
		rh := p.RouteHash // the fast path's; else 0
		if rh == 0 {
			rh = capture.RouteHash(p.Src, p.Dst)
		}
		if rh%uint64(n) != uint64(i) {
			continue
		}
		packets++
		t.Add(&p)
	}
	t.Close()
	return events, packets, out.Close(report.Summary{})
}

// hostTable is an open-addressing table of IPv4 senders, a 64-byte line
// each, at most half full: the work rstscope's reader does for every
// non-RST packet (flows.routerHosts), which every shard would do here.
type hostTable struct {
	lines []hostLine
	macs  [][6]byte // macs[i] goes with lines[i], written once a host
	n     int
}

// hostLine is 64 bytes, as the reader's.
type hostLine struct {
	addr   uint32
	used   bool
	hasMAC bool
	ttl    flows.TTLStats
	ipid   flows.IPIDStats
}

func (h *hostTable) packet(p *capture.Packet) {
	a, ok := capture.AddrV4(p.Src.Addr())
	if !ok {
		return
	}
	if 2*(h.n+1) > len(h.lines) {
		h.grow()
	}
	i := h.slot(a)
	l := &h.lines[i]
	if !l.used {
		l.addr, l.used = a, true
		h.n++
	}
	l.ttl.Add(p.TTL)
	l.ipid.Add(p.IPID)
	if !l.hasMAC && p.HasMAC {
		l.hasMAC, h.macs[i] = true, p.SrcMAC
	}
}

// slot gives the line holding a, or the empty one where it goes.
func (h *hostTable) slot(a uint32) int {
	hi, lo := bits.Mul64(uint64(a), 0xa0761d6478bd642f)
	mask := len(h.lines) - 1
	for i := int(hi^lo) & mask; ; i = (i + 1) & mask {
		if l := &h.lines[i]; !l.used || l.addr == a {
			return i
		}
	}
}

func (h *hostTable) grow() {
	old, oldMACs := h.lines, h.macs
	n := max(2*len(old), 1024)
	h.lines, h.macs = make([]hostLine, n), make([][6]byte, n)
	for i, l := range old {
		if l.used {
			j := h.slot(l.addr)
			h.lines[j], h.macs[j] = l, oldMACs[i]
		}
	}
}
