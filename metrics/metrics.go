package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Snapshot is the pipeline's running counts, as the JSON contract's stats
// name them.
type Snapshot struct {
	Packets         uint64 // frames read
	TCPPackets      uint64 // frames carrying TCP
	Undecodable     uint64 // frames that did not decode
	Flows           uint64 // TCP flows tracked
	ActiveFlows     int    // flows held now
	FrozenFlows     int    // of them, frozen (past --hot-flows)
	FlowsThawed     uint64 // packets that thawed a frozen flow
	RSTPackets      uint64 // RST packets read
	KernelDrops     uint64 // packets the kernel dropped (libpcap ps_drop)
	IfaceDrops      uint64 // packets the interface dropped (ps_ifdrop)
	DroppedFlows    uint64 // connection attempts not tracked: --max-flows reached
	FlowsEndedEarly uint64 // flows ended early to make room under --max-flows
	Filtered        uint64 // findings left out of the report by --cause/--origin/...
	PcapWritten     uint64 // packets written by -w
	PcapHeldBytes   int64  // memory holding packets for -w's findings
	PcapHeldFlows   int    // flows whose packets -w holds (at most the flows tracked, once they end)
	// Kernel is the host kernel's account (--kernel-reasons,
	// --kernel-events); nil without one, and then its series are absent.
	Kernel *KernelCounts
}

// KernelCounts are the kernel's account's running counts.
type KernelCounts struct {
	SendReset    uint64 // tcp_send_reset events: this host's TCP stack sent an RST
	ReceiveReset uint64 // tcp_receive_reset events: a received RST reset a socket
	Dropped      uint64 // kfree_skb events: the stack dropped an RST outside the window
	Lost         uint64 // events lost: the kernel's ring was full
	RSTs         uint64 // RSTs judged with the kernel's account
	Joined       uint64 // of those, RSTs a kernel event joined
}

// Options configures Metrics.
type Options struct {
	Version string // for rstscope_build_info
	// Causes, Origins and Confidences are every label value; each
	// combination starts at 0, so that rate() and increase() see a
	// series' first reset.
	Causes, Origins, Confidences []string
	// Profiling also serves Go's runtime profiles at /debug/pprof/
	// (--pprof): the heap of a sensor that has run for days, read with
	// go tool pprof http://ADDR/debug/pprof/heap.
	Profiling bool
}

// Metrics holds rstscope's collectors in a registry of their own.
type Metrics struct {
	opts   Options
	reg    *prometheus.Registry
	resets *prometheus.CounterVec
	mu     sync.Mutex
	snap   Snapshot
}

const ns = "rstscope"

// New registers the collectors.
func New(opts Options) *Metrics {
	m := &Metrics{opts: opts, reg: prometheus.NewRegistry()}
	m.resets = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Name: "resets_total",
		Help: "TCP resets explained (findings, before report filters), by cause, origin and confidence.",
	}, []string{"cause", "origin", "confidence"})
	for _, c := range opts.Causes {
		for _, o := range opts.Origins {
			for _, k := range opts.Confidences {
				m.resets.WithLabelValues(c, o, k)
			}
		}
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: ns, Name: "build_info",
		Help:        "rstscope's version and Go version; the value is 1.",
		ConstLabels: prometheus.Labels{"version": opts.Version, "goversion": runtime.Version()},
	})
	build.Set(1)
	m.reg.MustRegister(m.resets, build, (*snapshotCollector)(m),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{Namespace: ns}))
	return m
}

// Reset counts one finding.
func (m *Metrics) Reset(cause, origin, confidence string) {
	m.resets.WithLabelValues(cause, origin, confidence).Inc()
}

// Update replaces the pipeline's counts that the next scrape reports.
func (m *Metrics) Update(s Snapshot) {
	m.mu.Lock()
	m.snap = s
	m.mu.Unlock()
}

// Handler serves the exposition.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// snapshotCollector exposes the last Snapshot.
type snapshotCollector Metrics

type snapMetric struct {
	desc   *prometheus.Desc
	kind   prometheus.ValueType
	value  func(*Snapshot) float64
	label  string // the "where" or "event" label's value
	kernel bool   // from Snapshot.Kernel: absent when it is nil
}

var snapMetrics = func() []snapMetric {
	counter := func(name, help string, v func(*Snapshot) uint64) snapMetric {
		return snapMetric{
			desc: prometheus.NewDesc(ns+"_"+name, help, nil, nil), kind: prometheus.CounterValue,
			value: func(s *Snapshot) float64 { return float64(v(s)) },
		}
	}
	drops := prometheus.NewDesc(ns+"_dropped_packets_total",
		"Packets lost before rstscope saw them, by where: kernel (buffer full) or interface.", []string{"where"}, nil)
	return []snapMetric{
		counter("packets_total", "Frames read.", func(s *Snapshot) uint64 { return s.Packets }),
		counter("tcp_packets_total", "Frames carrying a TCP segment.", func(s *Snapshot) uint64 { return s.TCPPackets }),
		counter("undecodable_packets_total", "Frames that claimed TCP or IP but did not decode.", func(s *Snapshot) uint64 { return s.Undecodable }),
		counter("flows_total", "TCP flows tracked.", func(s *Snapshot) uint64 { return s.Flows }),
		counter("rst_packets_total", "TCP packets with RST read.", func(s *Snapshot) uint64 { return s.RSTPackets }),
		counter("flows_dropped_total", "Connection attempts not tracked because --max-flows was reached.", func(s *Snapshot) uint64 { return s.DroppedFlows }),
		counter("flows_ended_early_total", "Flows ended early to make room under --max-flows.", func(s *Snapshot) uint64 { return s.FlowsEndedEarly }),
		counter("findings_filtered_total", "Findings left out of the report by --cause, --origin, --min-confidence or --host.", func(s *Snapshot) uint64 { return s.Filtered }),
		counter("pcap_packets_written_total", "Packets written to -w files.", func(s *Snapshot) uint64 { return s.PcapWritten }),
		counter("flows_thawed_total", "Packets that thawed a frozen flow: near the packet rate, --hot-flows is smaller than the flows busy at once.", func(s *Snapshot) uint64 { return s.FlowsThawed }),
		{desc: prometheus.NewDesc(ns+"_flows_active", "TCP flows held now.", nil, nil), kind: prometheus.GaugeValue,
			value: func(s *Snapshot) float64 { return float64(s.ActiveFlows) }},
		{desc: prometheus.NewDesc(ns+"_flows_frozen", "TCP flows held now in compact records, past --hot-flows (part of flows_active).", nil, nil), kind: prometheus.GaugeValue,
			value: func(s *Snapshot) float64 { return float64(s.FrozenFlows) }},
		{desc: prometheus.NewDesc(ns+"_pcap_held_bytes", "Memory holding recent packets per flow for -w (bounded at 64 MiB).", nil, nil), kind: prometheus.GaugeValue,
			value: func(s *Snapshot) float64 { return float64(s.PcapHeldBytes) }},
		{desc: prometheus.NewDesc(ns+"_pcap_held_flows", "Flows whose recent packets -w holds: the flows tracked, released as they end (at most 65,536).", nil, nil), kind: prometheus.GaugeValue,
			value: func(s *Snapshot) float64 { return float64(s.PcapHeldFlows) }},
		{desc: drops, kind: prometheus.CounterValue, label: "kernel", value: func(s *Snapshot) float64 { return float64(s.KernelDrops) }},
		{desc: drops, kind: prometheus.CounterValue, label: "interface", value: func(s *Snapshot) float64 { return float64(s.IfaceDrops) }},
		kernelCounter(events, "tcp_send_reset", func(k *KernelCounts) uint64 { return k.SendReset }),
		kernelCounter(events, "tcp_receive_reset", func(k *KernelCounts) uint64 { return k.ReceiveReset }),
		kernelCounter(events, "kfree_skb", func(k *KernelCounts) uint64 { return k.Dropped }),
		kernelCounter(prometheus.NewDesc(ns+"_kernel_events_lost_total",
			"Kernel reset events lost because the kernel's ring was full.", nil, nil), "",
			func(k *KernelCounts) uint64 { return k.Lost }),
		kernelCounter(prometheus.NewDesc(ns+"_kernel_rsts_total",
			"RSTs judged with the kernel's account on.", nil, nil), "",
			func(k *KernelCounts) uint64 { return k.RSTs }),
		kernelCounter(prometheus.NewDesc(ns+"_kernel_rsts_joined_total",
			"RSTs judged with the kernel's account that a kernel event joined.", nil, nil), "",
			func(k *KernelCounts) uint64 { return k.Joined }),
	}
}()

// events is rstscope_kernel_events_total; its event label is the
// tracepoint's name, as in a finding's kernel.event.
var events = prometheus.NewDesc(ns+"_kernel_events_total",
	"Kernel reset events read, by event (tracepoint): tcp_send_reset, tcp_receive_reset, kfree_skb (an RST the stack dropped).",
	[]string{"event"}, nil)

func kernelCounter(desc *prometheus.Desc, label string, v func(*KernelCounts) uint64) snapMetric {
	return snapMetric{desc: desc, kind: prometheus.CounterValue, label: label, kernel: true,
		value: func(s *Snapshot) float64 { return float64(v(s.Kernel)) }}
}

func (c *snapshotCollector) Describe(ch chan<- *prometheus.Desc) {
	seen := map[*prometheus.Desc]bool{}
	for _, sm := range snapMetrics {
		if !seen[sm.desc] {
			seen[sm.desc] = true
			ch <- sm.desc
		}
	}
}

func (c *snapshotCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	s := c.snap
	c.mu.Unlock()
	for _, sm := range snapMetrics {
		if sm.kernel && s.Kernel == nil {
			continue
		}
		var labels []string
		if sm.label != "" {
			labels = []string{sm.label}
		}
		ch <- prometheus.MustNewConstMetric(sm.desc, sm.kind, sm.value(&s), labels...)
	}
}

// Server is the /metrics HTTP server.
type Server struct {
	ln  net.Listener
	srv *http.Server
	err chan error
}

// Serve listens on addr (host:port) now and serves /metrics (and with
// Profiling /debug/pprof/) in a goroutine until Close.
func (m *Metrics) Serve(addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "rstscope: metrics at /metrics")
	})
	if m.opts.Profiling {
		// Mounted on this mux only: the import's own registration is on
		// http.DefaultServeMux, which rstscope never serves.
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	s := &Server{ln: ln, err: make(chan error, 1),
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	go func() { s.err <- s.srv.Serve(ln) }()
	return s, nil
}

// Addr is the address served (with the port chosen for ":0").
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops the server, letting a scrape in progress finish for up to
// a second.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if serr := <-s.err; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}
