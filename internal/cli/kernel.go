package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/rstscope/rstscope/flows"
	"github.com/rstscope/rstscope/heuristics"
	"github.com/rstscope/rstscope/kernel"
	"github.com/rstscope/rstscope/metrics"
	"github.com/rstscope/rstscope/report"
)

// Kernel is the host kernel's account of one run's RSTs (package kernel): a
// live Tracer with -i, pumped into an Index (and into the --kernel-events
// file), or the events recorded in that file with -r. The zero value (nil)
// is "not asked for or not available" and every method accepts it.
type Kernel struct {
	tracer *kernel.Tracer
	index  *kernel.Index
	file   *os.File // --kernel-events with -i
	pumped chan error
	done   bool
	err    error
	// rsts and joined count the findings judged with the kernel's
	// account and those a kernel event joined.
	rsts, joined uint64
	lostSeen     bool
	pruned       time.Time
	// synced is when the last Sync with the tracer began, and good when
	// the last one that succeeded began: every event of an RST sent
	// before good is in the index.
	synced, good time.Time
	// sync is the tracer's Sync (a variable for tests); nil without a
	// live tracer.
	sync func(max time.Duration) bool
}

// syncWait bounds how long judging waits for a tracer's reader that fell
// behind. It waits only for RSTs newer than the last Sync: about once a
// look-ahead under a flood.
const syncWait = 200 * time.Millisecond

// OpenKernel opens the kernel's account as --kernel-reasons and
// --kernel-events ask. Live, it must run before -Z drops root; it keeps the
// events of the capture's network namespace (the process's). With auto, a
// kernel that cannot give its account is one line on stderr and a nil
// Kernel, never an error.
func (cfg *Config) OpenKernel(stderr io.Writer) (*Kernel, error) {
	return openKernel(cfg.kernel, cfg.Iface != "", stderr)
}

func openKernel(k kernelFlags, live bool, stderr io.Writer) (*Kernel, error) {
	if k.reasons == "off" {
		return nil, nil
	}
	if !live {
		if k.events == "" {
			return nil, nil
		}
		fh, err := os.Open(k.events)
		if err != nil {
			return nil, fmt.Errorf("--kernel-events: %w", err)
		}
		defer fh.Close()
		x, err := kernel.ReadIndex(fh, k.events)
		if err != nil {
			return nil, err
		}
		warnOld(x.Sessions(), stderr)
		return &Kernel{index: x}, nil
	}
	tr, err := openTracer()
	if err != nil {
		if k.reasons == "on" {
			return nil, fmt.Errorf("kernel reset reasons: %w", err)
		}
		not := ""
		if k.events != "" {
			not = " (--kernel-events " + k.events + " not written)"
		}
		fmt.Fprintf(stderr, "rstscope: kernel reset reasons off: %v%s\n", err, not)
		return nil, nil
	}
	a := &Kernel{tracer: tr, index: kernel.NewIndex(nil, nil), pumped: make(chan error, 1), sync: tr.Sync}
	var w *kernel.Writer
	if k.events != "" {
		if a.file, err = os.Create(k.events); err != nil {
			tr.Close()
			return nil, fmt.Errorf("--kernel-events: %w", err)
		}
		w = kernel.NewWriter(a.file)
	}
	warnOld([]kernel.Session{tr.Session()}, stderr)
	go func() { a.pumped <- kernel.Pump(tr, w, a.index) }()
	return a, nil
}

// openTracer opens a Tracer kept to this process's network namespace (a
// variable for tests).
var openTracer = func() (*kernel.Tracer, error) {
	ns, err := kernel.CurrentNetNS()
	if err != nil {
		return nil, err
	}
	return kernel.Open(kernel.Options{NetNS: []uint32{ns}})
}

// warnOld says, once, what a kernel without the reason field cannot tell.
func warnOld(ss []kernel.Session, stderr io.Writer) {
	for _, s := range ss {
		switch {
		case !s.Reasons:
			fmt.Fprintf(stderr, "rstscope: kernel %s gives no reset reasons (Linux 6.10+): the kernel's events fix origins only, and a missing event proves nothing\n", orThis(s.Kernel))
			return
		case !s.AllResets:
			fmt.Fprintf(stderr, "rstscope: kernel %s does not trace every reset: a missing event proves nothing\n", orThis(s.Kernel))
			return
		}
	}
}

func orThis(release string) string {
	if release == "" {
		return "of the recording"
	}
	return release
}

// Witness is the kernel's Witness for the engine, nil without an account.
func (a *Kernel) Witness() heuristics.Witness {
	if a == nil {
		return nil
	}
	return &kernelWitness{a: a, w: kernel.NewWitness(a.index)}
}

// kernelWitness is the kernel's Witness, live-aware: a missing event is
// evidence (kernel_absent) only while the kernel has lost none, and live the
// session's loss count is only known at the end; so before such a claim
// stands, the tracer is asked (a system call, paid only for these claims).
type kernelWitness struct {
	a *Kernel
	w *kernel.Witness
}

func (k *kernelWitness) Testify(ev *flows.Event) heuristics.Testimony {
	a := k.a
	if ev.Count == 0 {
		return k.w.Testify(ev)
	}
	complete := a.catchUp(ev.RSTs[0].Time)
	t := k.w.Testify(ev)
	if !complete && absent(t) {
		// The reader may still hold this RST's event: its absence
		// proves nothing (a wrong kernel_absent would call the host's
		// own reset a firewall's).
		t.Claims = slices.DeleteFunc(t.Claims, func(cl heuristics.WitnessClaim) bool {
			return cl.Evidence.Signal == kernel.SignalAbsent
		})
		return t
	}
	if a.tracer == nil || a.lostSeen || !absent(t) || a.tracer.Lost() == 0 {
		return t
	}
	a.lostSeen = true
	a.index.SetSession(a.tracer.Session()) // with Lost: absence proves nothing from now on
	return k.w.Testify(ev)
}

// catchUp makes sure, live, that the events of an RST at t are in the
// index before it is judged. The tracer's reader runs on its own
// goroutine; on a loaded host it can fall a look-ahead behind the capture,
// and an RST judged before its event is read would lose its reason (and
// could be called kernel_absent). The RST's event comes within the
// Tolerance of its frame, so a Sync begun after that covers it.
// It reports whether the index is known to hold them: not when the reader
// did not catch up within syncWait (stuck, or far behind), nor for an RST
// judged within the Tolerance of the last Sync.
func (a *Kernel) catchUp(t time.Time) bool {
	if a.sync == nil || a.done {
		return true // a file's events, or Stop read them all
	}
	now := time.Now()
	if syncNeeded(t, a.index.Tolerance, a.synced, now) {
		if a.sync(syncWait) {
			a.good = now
		}
		a.synced = now
	}
	return !t.Add(a.index.Tolerance).After(a.good)
}

// syncNeeded says whether an RST at t (its event within tol of it) may
// have its event still in the ring at now, the last Sync having begun at
// synced. Not when that Sync began after the event's window; nor when t is
// more than a second ahead of now (another clock stamped it: waiting
// cannot help); nor within a millisecond of the last Sync (a look-ahead
// under the Tolerance: at most one a millisecond).
func syncNeeded(t time.Time, tol time.Duration, synced, now time.Time) bool {
	need := t.Add(tol)
	return need.After(synced) && !need.After(now.Add(time.Second)) && now.Sub(synced) >= time.Millisecond
}

func absent(t heuristics.Testimony) bool {
	for _, cl := range t.Claims {
		if cl.Evidence.Signal == kernel.SignalAbsent {
			return true
		}
	}
	return false
}

// Judged counts a finding judged with the kernel's account. Live, it also
// forgets events long judged.
func (a *Kernel) Judged(f *heuristics.Finding, lookAhead time.Duration) {
	if a == nil {
		return
	}
	a.rsts++
	if f.Kernel != nil {
		a.joined++
	}
	if a.tracer == nil {
		return
	}
	// Findings leave about a look-ahead after their RST, in RST time
	// order per flow and within a look-ahead of each other across flows;
	// an event joins frames within the Tolerance: what is older than two
	// look-aheads and 10 s before this RST is not needed again. Pruning
	// once a second of capture time bounds the index under a flood
	// (10,000 RSTs a second keep about 120,000 events).
	t := f.RST.Time.Time
	if t.Sub(a.pruned) >= time.Second {
		a.index.Prune(t.Add(-(2*lookAhead + 10*time.Second)))
		a.pruned = t
	}
}

// Stop ends tracing and waits until every event read is in the index (call
// it when capture stops, before the last findings are judged).
func (a *Kernel) Stop() error {
	if a == nil || a.tracer == nil || a.done {
		return nil
	}
	a.done = true
	a.tracer.Close()
	a.err = <-a.pumped
	if a.file != nil {
		if err := a.file.Close(); err != nil && a.err == nil {
			a.err = fmt.Errorf("--kernel-events: %w", err)
		}
	}
	return a.err
}

// Close stops tracing if Stop was not called (an error path) and returns
// the first error.
func (a *Kernel) Close() error {
	if a == nil {
		return nil
	}
	if err := a.Stop(); err != nil && !errors.Is(err, kernel.ErrClosed) {
		return err
	}
	return nil
}

// Warnings are the end-of-run warnings the kernel's account calls for.
func (a *Kernel) Warnings() []string {
	if s := a.Stats(); s != nil && s.Lost > 0 {
		return []string{fmt.Sprintf("the kernel lost %d reset events (its ring was full): RSTs without their event keep the packet-only verdict, and no missing event is taken as evidence", s.Lost)}
	}
	return nil
}

// Stats is the summary's kernel line, nil without an account.
func (a *Kernel) Stats() *report.KernelStats {
	if a == nil {
		return nil
	}
	s := &report.KernelStats{RSTs: a.rsts, Joined: a.joined}
	for _, ss := range a.index.Sessions() {
		s.Lost += ss.Lost
	}
	s.Events = uint64(a.index.Total())
	return s
}

// counts are the kernel's account's running counts for --metrics, nil
// without an account. Live, the loss is asked of the tracer (a system call;
// the sessions' count is only final at the end).
func (a *Kernel) counts() *metrics.KernelCounts {
	if a == nil {
		return nil
	}
	x := a.index
	k := &metrics.KernelCounts{
		SendReset: uint64(x.TotalOf(kernel.KindSendReset)), ReceiveReset: uint64(x.TotalOf(kernel.KindReceiveReset)),
		Dropped: uint64(x.TotalOf(kernel.KindDropped)), RSTs: a.rsts, Joined: a.joined,
	}
	if a.tracer != nil && !a.done {
		k.Lost = a.tracer.Lost()
	} else {
		for _, s := range x.Sessions() {
			k.Lost += s.Lost
		}
	}
	return k
}
