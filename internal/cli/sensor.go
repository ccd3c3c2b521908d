package cli

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/pflag"

	"github.com/rstscope/rstscope/capture"
	"github.com/rstscope/rstscope/flows"
	"github.com/rstscope/rstscope/heuristics"
	"github.com/rstscope/rstscope/metrics"
	"github.com/rstscope/rstscope/report"
)

// The always-on sensor's parts of a run: -w rotation (-C/-W/-G) and the
// RST-triggered live -w (--context), Prometheus metrics (--metrics), and
// the running summary on SIGUSR1. The pipeline calls OpenExport for -w,
// StartSensor before dropping root, and the Sensor's hooks (Judged, Tick,
// Quiet, Close).

// sensorConfig is the part of config that these flags set.
type sensorConfig struct {
	rotateMB    int    // -C
	rotateFiles int    // -W
	rotateEvery int    // -G, seconds
	context     int    // --context
	metricsAddr string // --metrics
	pprof       bool   // --pprof
}

func addSensorFlags(fs *pflag.FlagSet, c *sensorConfig) {
	fs.IntVarP(&c.rotateMB, "file-size", "C", 0, "with -w: start a new file when the current one is past `MB` million bytes (tcpdump -C)")
	fs.IntVarP(&c.rotateFiles, "file-count", "W", 0, "with -w: keep the last `N` files (tcpdump -W)")
	fs.IntVarP(&c.rotateEvery, "rotate-seconds", "G", 0, "with -w: start a new file every `SECONDS`; strftime %Y%m%d-%H%M%S in the name (tcpdump -G)")
	fs.IntVar(&c.context, "context", 64, "live -w: packets held per flow before its RST (and as many after) and written with each finding")
	fs.StringVar(&c.metricsAddr, "metrics", "", "serve Prometheus metrics at http://`ADDR`/metrics (e.g. 127.0.0.1:9471)")
	fs.BoolVar(&c.pprof, "pprof", false, "with --metrics: also serve Go's runtime profiles at http://ADDR/debug/pprof/ (heap, goroutines, CPU)")
}

func checkSensorFlags(c *Config) error {
	s := &c.sensor
	switch {
	case s.rotateMB < 0 || s.rotateFiles < 0 || s.rotateEvery < 0:
		return fmt.Errorf("-C, -W and -G must not be negative")
	case (c.WriteFile == "" || c.WriteFile == "-") && (s.rotateMB > 0 || s.rotateFiles > 0 || s.rotateEvery > 0):
		return fmt.Errorf("-C, -W and -G need -w FILE (a file, not stdout)")
	case s.rotateFiles > 0 && s.rotateMB == 0 && s.rotateEvery == 0:
		return fmt.Errorf("-W needs -C or -G")
	case s.context < 1:
		return fmt.Errorf("--context must be at least 1")
	case s.pprof && s.metricsAddr == "":
		return fmt.Errorf("--pprof needs --metrics ADDR (it serves on that listener)")
	}
	return nil
}

func (s *sensorConfig) rotate() capture.RotateOptions {
	return capture.RotateOptions{
		Size: int64(s.rotateMB) * 1_000_000, Files: s.rotateFiles,
		Every: time.Duration(s.rotateEvery) * time.Second,
	}
}

// Export is -w as the pipeline drives it: capture.Exporter (whole
// flows of input files, -w -) or the sensor's Recorder (live, rotation).
// Every method is safe on a nil *capture.Exporter (no -w).
type Export interface {
	Mark(a, b netip.AddrPort)       // the flow between a and b has a finding
	Packet(p *capture.Packet) error // every packet read
	Close() error                   // end of the run
	Abort()                         // a failed run
}

// OpenExport picks -w's writer: a Recorder for a live capture and for
// rotation (bounded memory and disk, written as findings come; live -w -
// streams to stdout the same way); otherwise capture.Exporter, which
// writes whole flows of the input files at the end (or every packet with
// --write-all, or to stdout for -w - of a file or pipe) and removes a
// half-written file. Without -w it is a nil *capture.Exporter.
//
// Why live -w - is a Recorder: the Exporter spools every packet until the
// run ends to learn which flows get findings, so a live capture's spool
// grew with the link for as long as it ran (in TMPDIR, which may be a
// tmpfs, memory), and the pcap came only at the end.
func (cfg *Config) OpenExport(src capture.Source, stdout io.Writer, stop <-chan struct{}) (Export, error) {
	s := &cfg.sensor
	var linkTypes []int
	if lt, ok := src.(capture.LinkTyper); ok {
		linkTypes = lt.LinkTypes()
	}
	var stream io.Writer // live -w -
	switch {
	case cfg.WriteFile == "":
		return (*capture.Exporter)(nil), nil
	case cfg.WriteFile == "-" && cfg.Iface != "" && !cfg.WriteAll:
		// A signal ends a write blocked on a reader that is not reading.
		stream = interruptibleOutput(stdout, stop, "the pcap")
	case cfg.WriteFile == "-" || (cfg.Iface == "" && s.rotate() == (capture.RotateOptions{})):
		opts := capture.ExportOptions{All: cfg.WriteAll, Inputs: cfg.Reads, Spool: cfg.dropping(), Filter: cfg.Filter,
			LinkTypes: linkTypes, MoreLinkTypes: capture.MayAddLinkTypes(src),
			// A signal ends a write blocked on a reader that is not
			// reading (-w - | a stalled reader, a FIFO), after StopGrace.
			Writer: func(w io.Writer) io.Writer { return interruptibleOutput(w, stop, "the pcap") }}
		e, err := capture.NewExporter(cfg.WriteFile, stdout, stop, opts)
		if err != nil {
			return nil, err
		}
		return e, nil
	}
	rec, err := capture.NewRecorder(cfg.WriteFile, linkTypes, capture.RecorderOptions{
		All: cfg.WriteAll, Context: s.context, Hold: cfg.LookAhead + time.Second, Rotate: s.rotate(), Writer: stream,
	}, time.Now())
	if err != nil {
		return nil, fmt.Errorf("-w: %w", err)
	}
	return &recorderExport{rec: rec}, nil
}

// recorderExport drives a capture.Recorder as an Export.
type recorderExport struct {
	rec *capture.Recorder
	err error // from Mark, reported by the next Packet or Close
}

func (r *recorderExport) Mark(a, b netip.AddrPort) {
	if err := r.rec.Mark(a, b); err != nil && r.err == nil {
		r.err = fmt.Errorf("-w: %w", err)
	}
}

func (r *recorderExport) Packet(p *capture.Packet) error {
	if r.err != nil {
		return r.err
	}
	if err := r.rec.Packet(p); err != nil {
		return fmt.Errorf("-w: %w", err)
	}
	return nil
}

// FlowEnds is the flow table's OnFlowEnd for exp: the Recorder releases
// what it holds for a flow when the table lets the flow go, so that a
// sensor's -w memory follows the flows alive. nil (nothing to release)
// for other exports. It must run on the goroutine that calls Packet and
// Mark (a flows.Table, not flows.Sharded, whose shards end flows
// concurrently).
func FlowEnds(exp Export) func(*flows.Flow) {
	r, ok := exp.(*recorderExport)
	if !ok {
		return nil
	}
	return func(f *flows.Flow) { r.rec.End(f.Client, f.Server) }
}

// flush: the live link is quiet.
func (r *recorderExport) flush() error {
	if err := r.rec.Flush(); err != nil {
		return fmt.Errorf("-w: %w", err)
	}
	return nil
}

func (r *recorderExport) Close() error {
	if err := r.rec.Close(); err != nil && r.err == nil {
		r.err = fmt.Errorf("-w: %w", err)
	}
	return r.err
}

// Abort keeps what was written: rotated files of a long run are evidence.
// After Close it does nothing.
func (r *recorderExport) Abort() { r.rec.Close() }

// observer names this sensor in ECS documents.
func (cfg *Config) observer() report.Observer {
	host, _ := os.Hostname()
	return report.Observer{Hostname: host, Interface: cfg.Iface, Version: Version}
}

// Sensor holds the running counts for metrics and SIGUSR1.
type Sensor struct {
	stderr   io.Writer
	exp      Export
	kern     *Kernel // the kernel's account, nil without
	m        *metrics.Metrics
	srv      *metrics.Server
	usr1     atomic.Bool
	stopUSR1 func()
	n        uint64
	byCause  map[heuristics.Cause]uint64
	kept     uint64
	filtered uint64
}

// StartSensor starts the metrics server (before -Z, so that a port below
// 1024 works) and the SIGUSR1 handler.
func (cfg *Config) StartSensor(stderr io.Writer, exp Export) (*Sensor, error) {
	s := &Sensor{stderr: stderr, exp: exp, byCause: map[heuristics.Cause]uint64{}}
	if addr := cfg.sensor.metricsAddr; addr != "" {
		opts := metrics.Options{Version: Version, Profiling: cfg.sensor.pprof}
		for _, c := range heuristics.AllCauses {
			opts.Causes = append(opts.Causes, string(c))
		}
		for _, o := range heuristics.AllOrigins {
			opts.Origins = append(opts.Origins, string(o))
		}
		for _, c := range []heuristics.Confidence{heuristics.Low, heuristics.Medium, heuristics.High} {
			opts.Confidences = append(opts.Confidences, c.String())
		}
		s.m = metrics.New(opts)
		srv, err := s.m.Serve(addr)
		if err != nil {
			return nil, fmt.Errorf("--metrics: %w", err)
		}
		s.srv = srv
		fmt.Fprintf(stderr, "rstscope: metrics at http://%s/metrics\n", srv.Addr())
		if cfg.sensor.pprof {
			fmt.Fprintf(stderr, "rstscope: profiles at http://%s/debug/pprof/\n", srv.Addr())
		}
	}
	s.stopUSR1 = notifyUSR1(&s.usr1)
	return s, nil
}

// Watch adds the kernel's account (nil: none) to the metrics.
func (s *Sensor) Watch(k *Kernel) { s.kern = k }

// Judged counts a finding; kept is false when a report filter left it out.
func (s *Sensor) Judged(f *heuristics.Finding, kept bool) {
	s.byCause[f.Cause]++
	if kept {
		s.kept++
	} else {
		s.filtered++
	}
	if s.m != nil {
		s.m.Reset(string(f.Cause), string(f.Origin), f.Confidence.String())
	}
}

// Statser is the flow table as the sensor reads it (flows.Table or
// flows.Sharded).
type Statser interface{ Stats() flows.TableStats }

// Tick runs after every n packets (n a power of two up to 4096; 1 for a
// live capture): metrics every 4096 packets, the summary when SIGUSR1
// came.
func (s *Sensor) Tick(src capture.Source, t Statser, n uint64) {
	s.n += n
	if s.n&4095 == 0 || s.usr1.Load() {
		s.update(src, t)
	}
}

// Quiet runs when the live link is quiet: -w's buffered packets go to
// disk, the metrics are updated, and the summary printed if SIGUSR1 came.
func (s *Sensor) Quiet(src capture.Source, t Statser) error {
	s.update(src, t)
	if r, ok := s.exp.(*recorderExport); ok {
		return r.flush()
	}
	return nil
}

// update refreshes the metrics and prints the summary if SIGUSR1 asked.
func (s *Sensor) update(src capture.Source, t Statser) {
	if s.m == nil && !s.usr1.Load() {
		return
	}
	st, ts := src.Stats(), t.Stats()
	if s.m != nil {
		snap := metrics.Snapshot{
			Packets: st.Packets, TCPPackets: st.TCPPackets, Undecodable: st.Undecodable,
			Flows: ts.Flows, ActiveFlows: ts.Active, FrozenFlows: ts.Frozen, FlowsThawed: ts.Thawed, RSTPackets: ts.RSTPackets,
			KernelDrops: st.KernelDrops, IfaceDrops: st.IfaceDrops,
			DroppedFlows: ts.DroppedFlows, FlowsEndedEarly: ts.EndedEarly, Filtered: s.filtered,
			Kernel: s.kern.counts(),
		}
		if r, ok := s.exp.(*recorderExport); ok {
			rs := r.rec.Stats()
			snap.PcapWritten, snap.PcapHeldBytes, snap.PcapHeldFlows = rs.Written, rs.HeldBytes, rs.HeldFlows
		}
		s.m.Update(snap)
	}
	if s.usr1.Swap(false) {
		fmt.Fprintf(s.stderr, "rstscope: %s\n", s.summary(st, ts))
	}
}

// summary is the running summary line SIGUSR1 prints.
func (s *Sensor) summary(st capture.Stats, ts flows.TableStats) string {
	var causes []string
	for c, n := range s.byCause {
		causes = append(causes, fmt.Sprintf("%s %d", c, n))
	}
	sort.Strings(causes)
	by := ""
	if len(causes) > 0 {
		by = " (" + strings.Join(causes, ", ") + ")"
	}
	return fmt.Sprintf("%d packets, %d TCP flows (%d active), %d RST packets, %d findings%s, %d filtered out, %d dropped by the kernel, %d by the interface",
		st.Packets, ts.Flows, ts.Active, ts.RSTPackets, s.kept+s.filtered, by, s.filtered, st.KernelDrops, st.IfaceDrops)
}

// Close stops the metrics server and the signal handler; nil does nothing.
func (s *Sensor) Close() error {
	if s == nil {
		return nil
	}
	s.stopUSR1()
	if s.srv != nil {
		return s.srv.Close()
	}
	return nil
}
