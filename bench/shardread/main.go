// Command shardread times a design rstscope does not have yet: every shard
// reads the capture file itself, decodes every packet, and tracks the
// flows its route hash gives it, so that no packet crosses from one core
// to another (rstscope's reader decodes each packet and hands its cache
// lines to a shard on the other core; README, Performance, session 16).
//
//	go build -o /tmp/shardread ./bench/shardread
//	/tmp/shardread -n 2 pcaps/bench/mix-10200000p-280000f-s128-seed1.pcap
//
// It is a yardstick, not a tool: each shard is a flows.Table over its own
// flows, its events are counted and dropped (no judging, no report), and
// its host profiles see only its own packets, where the design needs every
// shard to update them with every packet (about 100 instructions a packet
// more on each core) and to merge the hosts' flow counts across shards for
// each RST's snapshot. Against that, it decodes every packet fully on
// every shard where a shard needs only the route hash of the others'. It
// prints the events and packets of each shard and the wall time; time it
// beside `rstscope -r` and bench/floor in alternated rounds.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/rstscope/rstscope/capture"
	"github.com/rstscope/rstscope/flows"
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

// shard reads path and tracks the packets whose route hash is i (mod n).
func shard(path string, i, n int) (events, packets int, err error) {
	src, err := capture.OpenFile(path, 0, capture.FileOptions{})
	if err != nil {
		return 0, 0, err
	}
	defer src.Close()
	t := flows.NewTable(flows.Options{OnEvent: func(*flows.Event) { events++ }})
	var p capture.Packet
	for {
		if err := src.Next(&p); err != nil {
			if err == io.EOF {
				break
			}
			return events, packets, err
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
	return events, packets, nil
}
