// Command rstgen writes deterministic pcap captures with internal/pcapgen:
// one named RST scenario (a small fixture) or the benchmark mix.
//
//	go run ./cmd/rstgen -o big.pcap                      # 10.2 M packets, 280k flows, snaplen 128
//	go run ./cmd/rstgen -o f.pcap -scenario gfw_triple_rst
//	go run ./cmd/rstgen -list
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rstscope/rstscope/internal/pcapgen"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "rstgen: %v\n", err)
		var u usageError
		if errors.As(err, &u) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError struct{ error }

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rstgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "output pcap `file` (required unless -list)")
	flows := fs.Int("flows", 280000, "TCP flows in the mix (default scales with -packets when only that is given)")
	packets := fs.Int("packets", 10200000, "packets in the mix (approximate)")
	snaplen := fs.Int("snaplen", 0, "snapshot length: 128 (mix default) or 65535 (scenario default)")
	seed := fs.Uint64("seed", 1, "random seed")
	scenario := fs.String("scenario", "", "write one named scenario instead of the mix (see -list)")
	link := fs.String("link", "ethernet", "link type: ethernet, vlan, sll, sll2, raw")
	dur := fs.Duration("duration", 10*time.Minute, "capture span of the mix")
	resets := fs.Float64("reset-fraction", 0.02, "fraction of mix flows that end in RST scenarios")
	list := fs.Bool("list", false, "list the scenarios and exit")
	scan := fs.Int("scan", 0, "write a port scan of `N` refused connections (2N packets) instead of the mix")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if *list {
		for _, s := range pcapgen.Scenarios() {
			fmt.Fprintf(stdout, "%-28s %-27s %-9s rsts=%d  %s\n", s.Name, s.Cause, s.Origin, s.RSTs, s.Doc)
		}
		return nil
	}
	if *out == "" {
		return usageError{errors.New("-o FILE is required")}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	lt, vlan, err := pcapgen.ParseLink(*link)
	if err != nil {
		return usageError{err}
	}
	o := pcapgen.Options{Link: lt, VLAN: vlan, Snaplen: *snaplen, Seed: *seed, Pad: true}
	if o.Snaplen == 0 && *scenario == "" {
		o.Snaplen = 128
	}
	if *scan < 0 || *scan > 0 && *scenario != "" {
		return usageError{errors.New("-scan N takes a positive N and no -scenario")}
	}
	if *scenario != "" {
		if _, ok := pcapgen.Lookup(*scenario); !ok {
			return usageError{fmt.Errorf("unknown scenario %q (see -list)", *scenario)}
		}
	}
	if set["packets"] && !set["flows"] {
		*flows = max(1, int(int64(*packets)*280000/10200000))
	}

	tmp := *out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if o.Snaplen == 0 {
		o.Snaplen = 65535
	}
	start := time.Now()
	var st pcapgen.Stats
	var mix pcapgen.MixStats
	switch {
	case *scenario != "":
		st, err = pcapgen.WriteScenario(f, *scenario, o)
	case *scan > 0:
		g := pcapgen.New(f, o)
		pcapgen.Scan(g, *scan, pcapgen.Time(0))
		err = g.Close()
		st = g.Stats()
	default:
		g := pcapgen.New(f, o)
		mix, err = pcapgen.Mix(g, pcapgen.MixOptions{Flows: *flows, Packets: *packets, Duration: *dur, ResetFraction: *resets})
		if cerr := g.Close(); err == nil {
			err = cerr
		}
		st = g.Stats()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", *out, err)
	}
	if err := os.Rename(tmp, *out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d packets (%d TCP), %d TCP flows, %d RSTs, %d bytes (%d on the wire), snaplen %d, %s, %.1fs\n",
		*out, st.Packets, st.TCPPackets, st.Flows, st.RSTs, st.FileBytes, st.WireBytes, o.Snaplen, lt, time.Since(start).Seconds())
	if *scenario == "" && *scan == 0 {
		fmt.Fprintf(stdout, "long transfers %d, scenario flows:", mix.LongFlows)
		for _, s := range pcapgen.Scenarios() {
			if n := mix.ScenarioFlows[s.Name]; n > 0 {
				fmt.Fprintf(stdout, " %s=%d", s.Name, n)
			}
		}
		fmt.Fprintln(stdout)
	}
	return nil
}
