package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/rstscope/rstscope/capture"
	"github.com/rstscope/rstscope/heuristics"
	"github.com/rstscope/rstscope/report"
)

// config is the parsed command line (flags.go's parseFlags says what each
// field holds).
type config struct {
	reads                                                []string
	iface, filter, writeFile, user, format, output, peer string
	explain                                              string
	writeAll, noPromisc, noColor, verbose, correlate     bool
	showVersion, listIfaces                              bool
	count                                                uint64
	snaplen, bufferKiB, maxFlows, shards                 int
	duration, idle, lookAhead                            time.Duration
	location                                             *time.Location
	keep                                                 report.Filter
	stdin                                                io.Reader
	sensor                                               sensorConfig
}

const usageHead = `rstscope: who reset this TCP connection, and why.

Usage:
  rstscope -r FILE [-r FILE...] [options] [BPF expression]
  rstscope -i IFACE [options] [BPF expression]      (live, needs root or CAP_NET_RAW)
  rstscope --explain CAUSE

Examples:
  rstscope -r capture.pcap                      text cards, one per reset
  rstscope -r capture.pcap.gz --format json -o findings.json
  rstscope -r capture.pcapng 'host 10.0.0.5 and port 443'
  tcpdump -w - -i eth0 port 443 | rstscope -r -
  sudo rstscope -i any --format ndjson | jq .summary
  sudo rstscope -i eth0 -w resets.pcap --duration 10m 'tcp port 8080'
  rstscope -r capture.pcap --cause middlebox_injected,idle_timeout --format markdown

Options:
`

func parseFlags(args []string, stdout, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := pflag.NewFlagSet("rstscope", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.SortFlags = false
	fs.StringArrayVarP(&c.reads, "read", "r", nil, "read packets from `FILE` (pcap, pcapng, .gz; - for stdin; a directory or pattern: its files in time order); repeatable")
	fs.StringVarP(&c.iface, "interface", "i", "", "capture live on `IFACE` (any for all)")
	fs.BoolVarP(&c.listIfaces, "list-interfaces", "D", false, "list the interfaces -i can capture on, as tcpdump -D")
	fs.StringVarP(&c.writeFile, "write", "w", "", "write the packets of flows with findings to `FILE` (pcap; - for stdout, the report then goes to stderr)")
	fs.BoolVar(&c.writeAll, "write-all", false, "with -w: write every packet read")
	fs.Uint64VarP(&c.count, "count", "c", 0, "stop after `N` packets")
	fs.IntVarP(&c.snaplen, "snaplen", "s", 4000, "live: bytes kept per packet: TLS ClientHello, HTTP headers (and a 4 KiB slot per packet in the kernel buffer)")
	fs.StringVarP(&c.user, "user", "Z", "", "when run as root: drop to `USER` once the interface and output files are open")
	fs.BoolVarP(&c.noPromisc, "no-promiscuous-mode", "p", false, "live: do not put the interface in promiscuous mode")
	fs.IntVarP(&c.bufferKiB, "buffer-size", "B", 16384, "live: kernel capture buffer in `KiB`: about 4,000 packets at the default -s")
	fs.DurationVar(&c.duration, "duration", 0, "live: stop after `D` (e.g. 30s, 10m)")
	fs.BoolP("numeric", "n", true, "no name resolution (always on; accepted for tcpdump habits)")
	fs.StringVar(&c.format, "format", "text", "output `FORMAT`: "+strings.Join(report.Formats, ", "))
	fs.StringVarP(&c.output, "output", "o", "", "write the report to `FILE` instead of stdout")
	tz := fs.String("tz", "UTC", "text, markdown: show times in `ZONE` (e.g. Europe/Paris) or local; JSON is always UTC")
	causes := fs.String("cause", "", "only findings with these causes (comma-separated `LIST`)")
	origins := fs.String("origin", "", "only findings with these origins: client, server, middlebox, unknown")
	minConf := fs.String("min-confidence", "", "only findings at least this confident: low, medium, high")
	hosts := fs.StringArray("host", nil, "only findings whose flow has `ADDR[:PORT]` or an address in a CIDR prefix; repeatable")
	fs.DurationVar(&c.idle, "idle", 5*time.Second, "a silence at least this long before a RST counts as idle")
	fs.DurationVar(&c.lookAhead, "look-ahead", 2*time.Second, "capture time to watch after a RST before judging it")
	fs.IntVar(&c.maxFlows, "max-flows", 1_000_000, "most TCP flows held at once (split between --shards); new flows past it are counted and dropped")
	// One core reads and decodes (capture.Prefetch) and routes: the
	// shards get the others. On 2 cores one table (1) measured as fast as
	// two shards: the reader and the table already use both.
	fs.IntVar(&c.shards, "shards", max(runtime.NumCPU()-1, 1), "flow-table shards for -r, one goroutine each (1: one table)")
	fs.BoolVar(&c.noColor, "no-color", false, "no colour in text output (also NO_COLOR)")
	fs.BoolVarP(&c.verbose, "verbose", "v", false, "also print the first undecodable frames")
	fs.StringVar(&c.explain, "explain", "", "explain a `CAUSE` (or all) and what to do about it")
	fs.StringVar(&c.peer, "peer", "", "check each RST against `FILE`, a capture of the same traffic at the other end of the path")
	fs.BoolVar(&c.correlate, "correlate", false, "with two -r: the second is the peer capture (as --peer)")
	addSensorFlags(fs, &c.sensor)
	fs.BoolVar(&c.showVersion, "version", false, "print the version")
	fs.Usage = func() { // --help: to stdout, so that | grep works
		fs.SetOutput(stdout)
		fmt.Fprint(stdout, usageHead)
		fs.PrintDefaults()
		fmt.Fprintf(stdout, "\nCauses: %s\nExit codes: 0 ok (with or without findings), 1 failure, 2 usage error.\n", causeList())
	}
	if err := fs.Parse(args); err != nil {
		if err == pflag.ErrHelp {
			return nil, err
		}
		return nil, fmt.Errorf("%w (see rstscope --help)", usageErr(err))
	}
	c.filter = strings.Join(fs.Args(), " ")
	if _, ok := os.LookupEnv("NO_COLOR"); ok {
		c.noColor = true
	}
	if c.showVersion || c.explain != "" || c.listIfaces {
		return c, nil
	}
	var err error
	if c.location, err = time.LoadLocation(strings.Replace(*tz, "local", "Local", 1)); err != nil {
		return nil, usageErr(fmt.Errorf("--tz: unknown zone %q (a name such as Europe/Paris, UTC or local)", *tz))
	}
	if c.keep, err = report.ParseFilter(*causes, *origins, *minConf, *hosts); err != nil {
		return nil, usageErr(err)
	}
	badCorrelate := c.correlate && (c.peer != "" || len(c.reads) != 2)
	if c.correlate && !badCorrelate {
		c.peer, c.reads = c.reads[1], c.reads[:1]
	}
	for _, check := range []struct {
		bad bool
		msg string
	}{
		{len(c.reads) == 0 && c.iface == "", "nothing to read: give -r FILE or -i IFACE (see rstscope --help)"},
		{len(c.reads) > 0 && c.iface != "", "-r and -i cannot be used together"},
		{c.writeAll && c.writeFile == "", "--write-all needs -w FILE"},
		{c.maxFlows < 1, "--max-flows must be at least 1"},
		{c.shards < 1 || c.shards > 256, "--shards must be between 1 and 256"},
		{c.bufferKiB < 0 || c.bufferKiB > 1<<21, "-B must be between 0 and 2097152 KiB"},
		{c.snaplen < 96 || c.snaplen > 262144, "-s must be between 96 and 262144"},
		{c.idle <= 0 || c.lookAhead <= 0, "--idle and --look-ahead must be positive"},
		{fs.Changed("count") && c.count == 0, "-c must be at least 1 (leave it out to read everything)"},
		{fs.Changed("duration") && c.duration <= 0, "--duration must be positive (leave it out to capture until interrupted)"},
		{c.writeFile == "-" && c.output == "-", "-w - and -o - both write to stdout: give -o FILE, or leave -o out (the report then goes to stderr)"},
		{capture.SameFile(c.output, c.writeFile), "-o and -w are the same file " + c.writeFile + ": the pcap would replace the report"},
		{badCorrelate, "--correlate needs two -r FILE (the second is the peer capture) and no --peer"},
		{c.peer == "-", "--peer must be a file, not stdin"},
		{!slices.Contains(report.Formats, c.format), fmt.Sprintf("unknown format %q (valid: %s)", c.format, strings.Join(report.Formats, ", "))},
	} {
		if check.bad {
			return nil, usageErr(errors.New(check.msg))
		}
	}
	if err := checkSensorFlags(c); err != nil {
		return nil, usageErr(err)
	}
	// -r dir/ and -r 'dir/*.pcap' name rotated files, read in time order
	// (capture.OpenFiles opens each as the merge reaches it).
	if c.reads, err = capture.ExpandPaths(c.reads); err != nil {
		return nil, err
	}
	return c, nil
}

// usageError marks an error that exits 2.
type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

func usageErr(err error) error { return usageError{err} }

func causeList() string {
	names := make([]string, len(heuristics.AllCauses))
	for i, c := range heuristics.AllCauses {
		names[i] = string(c)
	}
	return strings.Join(names, ", ")
}

// explain prints what a cause means (or all causes for "all").
func explain(w io.Writer, name string) error {
	if name == "all" {
		for _, c := range heuristics.AllCauses {
			fmt.Fprintf(w, "%s\n%s\n\n", c, heuristics.Explain(c))
		}
		return nil
	}
	c, err := heuristics.ParseCause(name)
	if err != nil {
		return usageErr(fmt.Errorf("%w (causes: %s)", err, causeList()))
	}
	fmt.Fprintf(w, "%s\n%s\n", c, heuristics.Explain(c))
	return nil
}
