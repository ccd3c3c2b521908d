package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/rstscope/rstscope/heuristics"
	"github.com/rstscope/rstscope/kernel"
	"github.com/rstscope/rstscope/report"
)

// kernelReasonRows renders kernel.ReasonCauses as the README's table rows.
func kernelReasonRows() string {
	var b strings.Builder
	for _, r := range kernel.ReasonCauses {
		cause := "(packet verdict)"
		switch {
		case r.Cause != "" && r.SYN != "":
			cause = fmt.Sprintf("`%s`; to a SYN `%s`", r.Cause, r.SYN)
		case r.Cause != "":
			cause = "`" + r.Cause + "`"
		case r.SYN != "":
			cause = fmt.Sprintf("to a SYN `%s`, else the packet verdict", r.SYN)
		}
		alts := make([]string, len(r.Alternatives))
		for i, a := range r.Alternatives {
			alts[i] = "`" + a + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", r.Reason, cause, strings.Join(alts, ", "))
	}
	return b.String()
}

// TestREADME_kernelReasons: the README's reason -> cause table is
// kernel.ReasonCauses (go test -run TestREADME_kernelReasons -update
// rewrites it).
func TestREADME_kernelReasons(t *testing.T) {
	const head = "| kernel reason | cause | packet context may choose instead |\n|---|---|---|\n"
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte(head))
	if i < 0 {
		t.Fatalf("README.md: no kernel reason table (header %q)", head)
	}
	start := i + len(head)
	end := start + bytes.Index(b[start:], []byte("\n\n")) + 1
	want := kernelReasonRows()
	if string(b[start:end]) == want {
		return
	}
	if !*update {
		t.Fatalf("README.md kernel reason table differs from kernel.ReasonCauses; got\n%s\nwant\n%s(go test -run TestREADME_kernelReasons -update)", b[start:end], want)
	}
	out := append(append(append([]byte{}, b[:start]...), want...), b[end:]...)
	if err := os.WriteFile("README.md", out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestKernelEvents_absence: -r with --kernel-events takes a missing
// tcp_send_reset as evidence (kernel_absent) only where the recording says
// the kernel traces every RST (6.10+) and lost nothing; a recording from an
// older kernel gets one line on stderr and the packet-only verdict.
func TestKernelEvents_absence(t *testing.T) {
	const capture = "pcaps/lab/refused_closed_port.server.pcap"
	fh, err := os.Open("pcaps/lab/refused_closed_port.server.kernel.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	r := kernel.NewReader(fh, "recorded")
	for {
		if _, err := r.Next(); err != nil {
			break
		}
	}
	fh.Close()
	if len(r.Sessions()) != 1 {
		t.Fatalf("recorded: %d sessions, want 1", len(r.Sessions()))
	}
	recorded := r.Sessions()[0]
	old := recorded
	old.Kernel, old.Reasons, old.AllResets, old.Drops = "5.15.0", false, false, false
	lost := recorded
	lost.Lost = 3
	for _, tc := range []struct {
		name    string
		session kernel.Session
		absent  bool
		origin  string
		stderr  string
	}{
		{"all_resets_traced", recorded, true, "middlebox", ""},
		{"older_kernel", old, false, "server", "rstscope: kernel 5.15.0 gives no reset reasons (Linux 6.10+)"},
		{"events_lost", lost, false, "server", "rstscope: warning: the kernel lost 3 reset events"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The session without its events: the stack's NO_SOCKET is missing.
			events := t.TempDir() + "/k.ndjson"
			var b bytes.Buffer
			w := kernel.NewWriter(&b)
			w.WriteSession(tc.session)
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(events, b.Bytes(), 0o644)
			var stdout, stderr bytes.Buffer
			if code := run([]string{"-r", capture, "--kernel-events", events, "--format", "json"}, nil, &stdout, &stderr, nil); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			var doc struct {
				Stats struct {
					Kernel *report.KernelStats `json:"kernel"`
				} `json:"stats"`
				Findings []heuristics.Finding `json:"findings"`
			}
			if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil || len(doc.Findings) != 1 {
				t.Fatalf("%v: %s", err, stdout.String())
			}
			f := doc.Findings[0]
			absent := false
			for _, e := range f.Evidence {
				absent = absent || e.Signal == kernel.SignalAbsent
			}
			if absent != tc.absent || string(f.Origin) != tc.origin || f.Kernel != nil {
				t.Errorf("got kernel_absent %v origin %s kernel %v, want %v %s none", absent, f.Origin, f.Kernel, tc.absent, tc.origin)
			}
			if k := doc.Stats.Kernel; k == nil || k.RSTs != 1 || k.Joined != 0 || k.Lost != tc.session.Lost {
				t.Errorf("stats.kernel %+v, want 1 RST, none joined, %d lost", k, tc.session.Lost)
			}
			if !strings.Contains(stderr.String(), tc.stderr) || (tc.stderr == "") != (stderr.Len() == 0) {
				t.Errorf("stderr %q, want %q", stderr.String(), tc.stderr)
			}
		})
	}
}
