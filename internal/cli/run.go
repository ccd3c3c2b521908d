package cli

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"github.com/charmbracelet/x/term"
	"github.com/rstscope/rstscope/capture"
	"github.com/rstscope/rstscope/correlate"
	"github.com/rstscope/rstscope/flows"
	"github.com/rstscope/rstscope/report"
)

// OpenInput opens the files or the live interface (stop interrupts a
// blocked open, a FIFO with no writer), followed as capture.Follow does,
// with a progress line on stderr when it is a terminal. inputs names them
// for the report.
func (cfg *Config) OpenInput(stop <-chan struct{}, stderr io.Writer) (src capture.Source, inputs []string, err error) {
	if src, err = capture.Interruptible(stop, strings.TrimSpace(strings.Join(cfg.Reads, " ")+" "+cfg.Iface), cfg.openSource); err != nil {
		return nil, nil, err
	}
	var progress io.Writer // a terminal, for a progress line while files are read
	if IsTerminal(stderr) {
		progress = stderr
	}
	inputs = cfg.Reads
	if cfg.Iface != "" {
		inputs = []string{cfg.Iface}
	}
	return capture.Follow(src, stop, progress), inputs, nil
}

// OpenReport opens -o (stdout when not given; stderr with -w -, which
// writes the pcap to stdout) and the report's writer. Neither -o nor -w
// may overwrite an input. out is nil for stdout and stderr.
func (cfg *Config) OpenReport(stdout, stderr io.Writer, stop <-chan struct{}) (w report.Writer, out *capture.Output, err error) {
	for _, o := range []struct{ flag, path string }{{"-o", cfg.Output}, {"-w", cfg.WriteFile}} {
		if err := capture.RefuseOverwrite(o.flag, o.path, cfg.Reads); err != nil {
			return nil, nil, err
		}
	}
	dst := stdout
	if cfg.WriteFile == "-" {
		dst = stderr
	}
	if out, err = capture.CreateOutput("output", cfg.Output, stop); err != nil {
		return nil, nil, err
	} else if out != nil {
		dst = out
	}
	// A signal ends a write blocked on a reader that is not reading
	// (after StopGrace), so that -w is still completed.
	if w, err = report.New(cfg.Format, interruptibleOutput(dst, stop, "the report"), cfg.reportOptions(dst)); err != nil {
		out.Abort()
		return nil, nil, err
	}
	return w, out, nil
}

// LoadPeer loads the --peer capture (nil without one).
func (cfg *Config) LoadPeer(stop <-chan struct{}) (*correlate.Peer, error) {
	if cfg.Peer == "" {
		return nil, nil
	}
	return capture.Interruptible(stop, cfg.Peer, func() (*correlate.Peer, error) {
		return correlate.Load(cfg.Peer, correlate.Options{LookAhead: cfg.LookAhead})
	})
}

func (cfg *Config) openSource() (capture.Source, error) {
	if cfg.Iface != "" {
		return capture.OpenLive(cfg.Iface, capture.LiveOptions{
			Snaplen: cfg.Snaplen, Promisc: !cfg.NoPromisc, Immediate: true, Filter: cfg.Filter, BufferSize: cfg.BufferKiB * 1024,
		})
	}
	src, err := capture.OpenFiles(cfg.Reads, capture.FileOptions{Filter: cfg.Filter, Stdin: cfg.Stdin})
	if err != nil {
		return nil, err
	}
	if cfg.Shards > 1 && runtime.GOMAXPROCS(0) <= 2 {
		// The router and the shards keep both cores busy: a reading
		// goroutine as well only adds a copy of each frame and a handoff
		// (see capture.PrefetchHeavy). With more cores it is the
		// faster: reading and decoding on a core of their own, the
		// router's goroutine only routes.
		return capture.PrefetchHeavy(src), nil
	}
	return capture.Prefetch(src), nil
}

// reportOptions are the report writer's options for output out.
func (cfg *Config) reportOptions(out io.Writer) report.Options {
	return report.Options{Color: !cfg.NoColor && IsTerminal(out), Stream: cfg.Iface != "", Location: cfg.Location, Observer: cfg.observer(), Quiet: cfg.Quiet}
}

// IsTerminal reports whether w is a terminal: a file whose descriptor
// answers the terminal ioctl. A character device alone is not enough
// (/dev/null is one, and must get neither colour nor a progress line).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(f.Fd())
}

// Warnings are the end-of-run warnings the counters call for: packets
// dropped, flows ended early or not tracked under --max-flows.
func (cfg *Config) Warnings(st capture.Stats, ts flows.TableStats) []string {
	var w []string
	if st.KernelDrops+st.IfaceDrops > 0 {
		w = append(w, fmt.Sprintf("%d packets dropped by the kernel and %d by the interface: findings may miss resets (a narrower BPF filter, a larger -B or a smaller -s helps)", st.KernelDrops, st.IfaceDrops))
	}
	if ts.EndedEarly > 0 {
		w = append(w, fmt.Sprintf("%d flows were ended early to make room: --max-flows %d reached (half-open, closed or idle flows go first)", ts.EndedEarly, cfg.MaxFlows))
	}
	if ts.DroppedFlows > 0 {
		w = append(w, fmt.Sprintf("%d flows were not tracked: --max-flows %d reached (their RSTs are still reported, with less context)", ts.DroppedFlows, cfg.MaxFlows))
	}
	return w
}

// Stats is the report's "stats" from the capture's and the table's
// counters, and the findings written and filtered out.
func Stats(st capture.Stats, ts flows.TableStats, findings, filtered uint64) report.Stats {
	rs := report.Stats{
		Packets: st.Packets, TCPPackets: st.TCPPackets, TCPFlows: ts.Flows, RSTPackets: ts.RSTPackets,
		Findings: findings, Undecodable: st.Undecodable, TruncatedInput: st.Truncated, DroppedByKernel: st.KernelDrops,
		DroppedByInterface: st.IfaceDrops, DroppedFlows: ts.DroppedFlows, FlowsEndedEarly: ts.EndedEarly, Filtered: filtered,
	}
	for _, h := range st.Hidden { // frames that may hide TCP, by reason
		rs.NotDecoded = append(rs.NotDecoded, report.NotDecoded{Reason: h.Reason.String(), Packets: h.Count})
	}
	if st.HiddenOther > 0 {
		rs.NotDecoded = append(rs.NotDecoded, report.NotDecoded{Reason: "other", Packets: st.HiddenOther})
	}
	return rs
}

// dropping reports whether -Z will drop root (only root drops).
func (cfg *Config) dropping() bool { return cfg.User != "" && os.Geteuid() == 0 }

// DropPrivileges drops root to -Z's user, as tcpdump does, once every
// file is open; it does nothing without -Z or when not root.
func (cfg *Config) DropPrivileges() error {
	if !cfg.dropping() {
		return nil
	}
	return capture.DropPrivileges(cfg.User)
}

// Listening prints tcpdump's line for a live capture: the device is open,
// the filter set, root dropped.
func (cfg *Config) Listening(stderr io.Writer, src capture.Source) {
	if cfg.Iface != "" {
		fmt.Fprintf(stderr, "rstscope: listening on %s, link-type %d, snapshot length %d bytes\n", cfg.Iface, src.(capture.LinkTyper).LinkTypes()[0], cfg.Snaplen)
	}
}

// FrameErrors prints the first undecodable frames for -v.
func (cfg *Config) FrameErrors(stderr io.Writer, st capture.Stats, inputs []string) {
	if !cfg.Verbose {
		return
	}
	for _, fe := range st.FirstErrors {
		fmt.Fprintf(stderr, "rstscope: %s: frame %d: %s\n", inputs[fe.Input], fe.Index, fe.Err)
	}
}
