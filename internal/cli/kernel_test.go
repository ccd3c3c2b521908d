package cli

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rstscope/rstscope/flows"
	"github.com/rstscope/rstscope/kernel"
)

// TestOpenKernel_modes: with -i, auto turns the kernel's account off with
// one line on stderr saying why when it cannot be had, on fails with that
// line, off never asks; with -r, events are read only from --kernel-events.
func TestOpenKernel_modes(t *testing.T) {
	saved := openTracer
	t.Cleanup(func() { openTracer = saved })
	asked := 0
	openTracer = func() (*kernel.Tracer, error) {
		asked++
		return nil, errors.New("kernel: reset reasons need Linux (tracepoints and BPF)")
	}
	var stderr bytes.Buffer
	a, err := openKernel(kernelFlags{reasons: "auto"}, true, &stderr)
	if a != nil || err != nil || stderr.String() != "rstscope: kernel reset reasons off: kernel: reset reasons need Linux (tracepoints and BPF)\n" {
		t.Errorf("auto: got %v, %v, stderr %q; want nil, nil and one line", a, err, stderr.String())
	}
	stderr.Reset()
	if a, err := openKernel(kernelFlags{reasons: "auto", events: "k.ndjson"}, true, &stderr); a != nil || err != nil ||
		!strings.HasSuffix(stderr.String(), "(--kernel-events k.ndjson not written)\n") {
		t.Errorf("auto with --kernel-events: got %v, %v, stderr %q; want the line naming the file not written", a, err, stderr.String())
	}
	stderr.Reset()
	if a, err := openKernel(kernelFlags{reasons: "on"}, true, &stderr); a != nil || err == nil ||
		err.Error() != "kernel reset reasons: kernel: reset reasons need Linux (tracepoints and BPF)" || stderr.Len() != 0 {
		t.Errorf("on: got %v, %v, stderr %q; want the line as the error", a, err, stderr.String())
	}
	asked = 0
	for _, k := range []kernelFlags{{reasons: "off"}, {reasons: "auto"}} {
		if a, err := openKernel(k, k.reasons == "off", &stderr); a != nil || err != nil {
			t.Errorf("%+v: got %v, %v; want nothing", k, a, err)
		}
	}
	if asked != 0 || stderr.Len() != 0 {
		t.Errorf("off, or -r without --kernel-events: the tracer was asked %d times, stderr %q; want never, silent", asked, stderr.String())
	}
	var nilAccount *Kernel
	if nilAccount.Witness() != nil || nilAccount.Stats() != nil || nilAccount.Stop() != nil || nilAccount.Close() != nil || nilAccount.Warnings() != nil {
		t.Error("a nil account must do nothing")
	}
}

// TestSyncNeeded: live, judging waits for the kernel's reader only for an
// RST whose event could have come after the last Sync began.
func TestSyncNeeded(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	tol := 5 * time.Millisecond
	for _, c := range []struct {
		name        string
		rst, synced time.Time
		want        bool
	}{
		{"first RST", now.Add(-2 * time.Second), time.Time{}, true},
		{"covered by a Sync begun after its window", now.Add(-2 * time.Second), now.Add(-time.Second), false},
		{"window ends at the Sync", now.Add(-time.Second - tol), now.Add(-time.Second), false},
		{"window ends after the Sync", now.Add(-time.Second - tol + 1), now.Add(-time.Second), true},
		{"judged at once (short look-ahead)", now, now.Add(-time.Second), true},
		{"a Sync began under a millisecond ago", now, now.Add(-500 * time.Microsecond), false},
		{"stamped over a second ahead", now.Add(2 * time.Second), now.Add(-time.Minute), false},
	} {
		if got := syncNeeded(c.rst, tol, c.synced, now); got != c.want {
			t.Errorf("%s: syncNeeded = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestKernelWitness_absenceNeedsCatchUp: live, an RST this host sent
// with no tcp_send_reset in the index is kernel_absent (a local firewall)
// only once the tracer's reader has caught up; when Sync fails (the
// reader stuck or far behind) the event may still be in the ring, and the
// finding makes no absence claim.
func TestKernelWitness_absenceNeedsCatchUp(t *testing.T) {
	local := netip.MustParseAddrPort("10.0.0.1:80")
	peer := netip.MustParseAddrPort("10.0.0.2:40000")
	rst := time.Now().Add(-2 * time.Second) // judged a look-ahead later
	sess := kernel.Session{Start: rst.Add(-time.Hour), Reasons: true, AllResets: true, Local: []netip.Addr{local.Addr()}}
	ev := &flows.Event{Count: 1, Flow: flows.Flow{Client: peer, Server: local}}
	ev.RSTs[0] = flows.RSTPacket{Dir: flows.FromServer, Time: rst, Frame: 7}
	for _, c := range []struct {
		name   string
		synced bool
		want   bool
	}{{"reader caught up", true, true}, {"reader did not", false, false}} {
		calls := 0
		a := &Kernel{index: kernel.NewIndex(nil, []kernel.Session{sess}),
			sync: func(time.Duration) bool { calls++; return c.synced }}
		got := absent(a.Witness().Testify(ev))
		if got != c.want || calls != 1 {
			t.Errorf("%s: kernel_absent %v after %d Syncs, want %v after 1", c.name, got, calls, c.want)
		}
	}
}
