package cli

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

// Config is the parsed command line (Parse says what each field holds).
type Config struct {
	Reads                                                []string
	Iface, Filter, WriteFile, User, Format, Output, Peer string
	Explain                                              string
	WriteAll, NoPromisc, NoColor, Verbose, Correlate     bool
	Quiet                                                bool // -q: the summary only
	ShowVersion, ListIfaces                              bool
	Count                                                uint64
	Snaplen, BufferKiB, MaxFlows, HotFlows, Shards       int
	Duration, Idle, LookAhead, IdleEvict                 time.Duration
	Location                                             *time.Location
	Keep                                                 report.Filter
	Stdin                                                io.Reader
	kernel                                               kernelFlags
	sensor                                               sensorConfig
}

// Version is rstscope's version.
const Version = "0.1.0"

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

// defaultShards is --shards' default on a machine of n cores: one core
// reads and decodes (capture.Prefetch) and routes, the shards get the
// others; on 2 cores, two shards. There the router (which then reads and
// decodes a classic pcap file itself, see capture.PrefetchHeavy) and two
// shards share both cores: on the bench file, both cores idle, two
// shards were 10-20% faster than one table in every round (six
// alternated rounds, medians: 1.92 s, one table 2.34 s, the floor
// 2.42 s), with about the same CPU in all (user+sys 3.4-3.8 s). Each
// shard holds its share of --max-flows plus a margin, so the split drops
// nothing one table holds.
func defaultShards(n int) int {
	if n == 2 {
		return 2
	}
	return max(n-1, 1)
}

// Parse parses the command line; --help (pflag.ErrHelp) prints the usage
// to stdout, errors go to stderr. An error that should exit 2 satisfies
// IsUsage.
func Parse(args []string, stdout, stderr io.Writer) (*Config, error) {
	c := &Config{}
	fs := pflag.NewFlagSet("rstscope", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.SortFlags = false
	fs.StringArrayVarP(&c.Reads, "read", "r", nil, "read packets from `FILE` (pcap, pcapng, .gz, .zst; - for stdin; a directory or pattern: its files in time order); repeatable")
	fs.StringVarP(&c.Iface, "interface", "i", "", "capture live on `IFACE` (any for all)")
	fs.BoolVarP(&c.ListIfaces, "list-interfaces", "D", false, "list the interfaces -i can capture on, as tcpdump -D")
	fs.StringVarP(&c.WriteFile, "write", "w", "", "write the packets of flows with findings to `FILE` (pcap; - for stdout, the report then goes to stderr)")
	fs.BoolVar(&c.WriteAll, "write-all", false, "with -w: write every packet read")
	fs.Uint64VarP(&c.Count, "count", "c", 0, "stop after `N` packets")
	fs.IntVarP(&c.Snaplen, "snaplen", "s", 4000, "live: bytes kept per packet: TLS ClientHello, HTTP headers (and a 4 KiB slot per packet in the kernel buffer)")
	fs.StringVarP(&c.User, "user", "Z", "", "when run as root: drop to `USER` once the interface and output files are open")
	fs.BoolVarP(&c.NoPromisc, "no-promiscuous-mode", "p", false, "live: do not put the interface in promiscuous mode")
	fs.IntVarP(&c.BufferKiB, "buffer-size", "B", 16384, "live: kernel capture buffer in `KiB`: about 4,000 packets at the default -s")
	fs.DurationVar(&c.Duration, "duration", 0, "live: stop after `D` (e.g. 30s, 10m)")
	fs.BoolP("numeric", "n", true, "no name resolution (always on; accepted for tcpdump habits)")
	fs.StringVar(&c.Format, "format", "text", "output `FORMAT`: "+strings.Join(report.Formats, ", "))
	fs.StringVarP(&c.Output, "output", "o", "", "write the report to `FILE` instead of stdout")
	tz := fs.String("tz", "UTC", "text, markdown: show times in `ZONE` (e.g. Europe/Paris) or local; JSON is always UTC")
	causes := fs.String("cause", "", "only findings with these causes (comma-separated `LIST`)")
	origins := fs.String("origin", "", "only findings with these origins: client, server, middlebox, unknown")
	minConf := fs.String("min-confidence", "", "only findings at least this confident: low, medium, high")
	hosts := fs.StringArray("host", nil, "only findings whose flow has `ADDR[:PORT]` or an address in a CIDR prefix; repeatable")
	fs.DurationVar(&c.Idle, "idle", 5*time.Second, "a silence at least this long before a RST counts as idle")
	fs.DurationVar(&c.LookAhead, "look-ahead", 2*time.Second, "capture time to watch after a RST before judging it")
	fs.DurationVar(&c.IdleEvict, "idle-evict", 15*time.Minute, "forget a flow after this much silence (a flow that carried data leaves a small tombstone, so a RST after a longer silence is still tied to it)")
	fs.IntVar(&c.MaxFlows, "max-flows", 1_000_000, "most TCP flows held at once (split between --shards); new flows past it are counted and dropped")
	fs.IntVar(&c.HotFlows, "hot-flows", 65_536, "flows kept in full, about 1 KB each (split between --shards); less recently active ones are frozen into records of about 150-350 bytes until their next packet (the output is the same)")
	fs.IntVar(&c.Shards, "shards", defaultShards(runtime.NumCPU()), "flow-table shards for -r, one goroutine each (1: one table)")
	fs.BoolVar(&c.NoColor, "no-color", false, "no colour in text output (also NO_COLOR)")
	fs.BoolVarP(&c.Quiet, "quiet", "q", false, "summary only: no finding cards (json: no findings list; ndjson: the summary line; not with ecs, which has no summary)")
	fs.BoolVarP(&c.Verbose, "verbose", "v", false, "also print the first undecodable frames")
	fs.StringVar(&c.Explain, "explain", "", "explain a `CAUSE` (or all) and what to do about it")
	fs.StringVar(&c.Peer, "peer", "", "check each RST against `FILE`, a capture of the same traffic at the other end of the path")
	fs.BoolVar(&c.Correlate, "correlate", false, "with two -r: the second is the peer capture (as --peer)")
	c.kernel.register(fs)
	addSensorFlags(fs, &c.sensor)
	fs.BoolVar(&c.ShowVersion, "version", false, "print the version")
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
	c.Filter = strings.Join(fs.Args(), " ")
	if _, ok := os.LookupEnv("NO_COLOR"); ok {
		c.NoColor = true
	}
	if c.ShowVersion || c.Explain != "" || c.ListIfaces {
		return c, nil
	}
	var err error
	if c.Location, err = time.LoadLocation(strings.Replace(*tz, "local", "Local", 1)); err != nil {
		return nil, usageErr(fmt.Errorf("--tz: unknown zone %q (a name such as Europe/Paris, UTC or local)", *tz))
	}
	if c.Keep, err = report.ParseFilter(*causes, *origins, *minConf, *hosts); err != nil {
		return nil, usageErr(err)
	}
	badCorrelate := c.Correlate && (c.Peer != "" || len(c.Reads) != 2)
	if c.Correlate && !badCorrelate {
		c.Peer, c.Reads = c.Reads[1], c.Reads[:1]
	}
	for _, check := range []struct {
		bad bool
		msg string
	}{
		{len(c.Reads) == 0 && c.Iface == "", "nothing to read: give -r FILE or -i IFACE (see rstscope --help)"},
		{len(c.Reads) > 0 && c.Iface != "", "-r and -i cannot be used together"},
		{c.WriteAll && c.WriteFile == "", "--write-all needs -w FILE"},
		{c.MaxFlows < 1, "--max-flows must be at least 1"},
		{c.HotFlows < 1, "--hot-flows must be at least 1"},
		{c.Shards < 1 || c.Shards > 256, "--shards must be between 1 and 256"},
		{c.BufferKiB < 0 || c.BufferKiB > 1<<21, "-B must be between 0 and 2097152 KiB"},
		{c.Snaplen < 96 || c.Snaplen > 262144, "-s must be between 96 and 262144"},
		{c.Idle <= 0 || c.LookAhead <= 0 || c.IdleEvict <= 0, "--idle, --look-ahead and --idle-evict must be positive"},
		{fs.Changed("count") && c.Count == 0, "-c must be at least 1 (leave it out to read everything)"},
		{fs.Changed("duration") && c.Duration <= 0, "--duration must be positive (leave it out to capture until interrupted)"},
		{c.WriteFile == "-" && c.Output == "-", "-w - and -o - both write to stdout: give -o FILE, or leave -o out (the report then goes to stderr)"},
		{capture.SameFile(c.Output, c.WriteFile), "-o and -w are the same file " + c.WriteFile + ": the pcap would replace the report"},
		{badCorrelate, "--correlate needs two -r FILE (the second is the peer capture) and no --peer"},
		{c.Peer == "-", "--peer must be a file, not stdin"},
		{!slices.Contains(report.Formats, c.Format), fmt.Sprintf("unknown format %q (valid: %s)", c.Format, strings.Join(report.Formats, ", "))},
		// ECS documents are findings only: -q would leave nothing to write.
		{c.Quiet && c.Format == "ecs", "-q and --format ecs: ECS writes one document per finding and no summary, so -q would write nothing (counts: --metrics; a summary: -q with text, markdown, json or ndjson)"},
	} {
		if check.bad {
			return nil, usageErr(errors.New(check.msg))
		}
	}
	if err := c.kernel.check(c.Iface != ""); err != nil {
		return nil, usageErr(err)
	}
	if err := checkSensorFlags(c); err != nil {
		return nil, usageErr(err)
	}
	// -r dir/ and -r 'dir/*.pcap' name rotated files, read in time order
	// (capture.OpenFiles opens each as the merge reaches it).
	if c.Reads, err = capture.ExpandPaths(c.Reads); err != nil {
		return nil, err
	}
	return c, nil
}

// usageError marks an error that exits 2.
type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

func usageErr(err error) error { return usageError{err} }

// IsUsage reports whether err is a usage error (exit 2).
func IsUsage(err error) bool { return errors.As(err, new(usageError)) }

func causeList() string {
	names := make([]string, len(heuristics.AllCauses))
	for i, c := range heuristics.AllCauses {
		names[i] = string(c)
	}
	return strings.Join(names, ", ")
}

// Explain prints what a cause means; "all" prints every cause of
// heuristics' cause table (heuristics.ExplainAll).
func Explain(w io.Writer, name string) error {
	if name == "all" {
		_, err := fmt.Fprintf(w, "%s\n", heuristics.ExplainAll())
		return err
	}
	c, err := heuristics.ParseCause(name)
	if err != nil {
		return usageErr(fmt.Errorf("%w (causes: %s)", err, causeList()))
	}
	_, err = fmt.Fprintf(w, "%s\n%s\n", c, heuristics.Explain(c))
	return err
}
