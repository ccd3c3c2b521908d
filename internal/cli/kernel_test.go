package cli

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

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
