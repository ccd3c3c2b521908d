package main

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzPipeline runs the whole of rstscope -r - --format json on arbitrary
// bytes: it never panics, exits 0 or 1 (1 with exactly one line on
// stderr), and on exit 0 the report is valid JSON in which every RST
// packet is in exactly one finding.
func FuzzPipeline(f *testing.F) {
	for _, name := range []string{
		"pcaps/refused.pcap",
		"pcaps/refused_ipv6_refused.pcap",
		"pcaps/middlebox_injected_iptables_reject_tls.pcap",
		"pcaps/tls_alert_tls_plaintext_alert.pcap",
		"pcaps/corpus/tcpdump/tcp_rst_data-trunc.pcap",
		"pcaps/corpus/filesamples/simple_http_sll2.pcap",
		"pcaps/corpus/ndpi/tls_1.3_unidirectional_server.pcapng",
		"pcaps/corpus/zeek/Traces/nflog-http.pcap",
	} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	// and every small capture of the real-world corpus (a copy of
	// ../shared/corpus)
	filepath.WalkDir("pcaps/corpus", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.Contains(path, ".pcap") {
			return err
		}
		if fi, err := d.Info(); err == nil && fi.Size() < 6<<10 {
			if data, err := os.ReadFile(path); err == nil {
				f.Add(data)
			}
		}
		return nil
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		code, out, errs := runCLI(t, bytes.NewReader(data), "-r", "-", "--format", "json")
		if strings.Contains(errs, "goroutine ") || strings.Contains(errs, "panic") {
			t.Fatalf("stack trace: %s", errs)
		}
		switch code {
		case 1:
			if line := strings.TrimSuffix(errs, "\n"); strings.Contains(line, "\n") || !strings.HasPrefix(line, "rstscope: ") {
				t.Fatalf("exit 1 with stderr %q, want one line", errs)
			}
			return
		case 0:
		default:
			t.Fatalf("exit %d, want 0 or 1 (stderr %q)", code, errs)
		}
		var d hostileDoc
		if err := json.Unmarshal([]byte(out), &d); err != nil {
			t.Fatalf("exit 0 with bad JSON: %v\n%.500s", err, out)
		}
		seen := map[uint64]int{}
		for i := range d.Findings {
			for _, fr := range d.Findings[i].frames() {
				seen[fr]++
			}
		}
		var rsts uint64
		for fr, n := range seen {
			if n != 1 {
				t.Fatalf("RST frame %d in %d findings", fr, n)
			}
			rsts++
		}
		if rsts != d.Stats.RSTPackets || d.Stats.Findings != uint64(len(d.Findings)) {
			t.Fatalf("%d RST frames in %d findings, stats say %d RSTs, %d findings", rsts, len(d.Findings), d.Stats.RSTPackets, d.Stats.Findings)
		}
		if d.Stats.TCPPackets > d.Stats.Packets || d.Stats.Undecodable > d.Stats.Packets {
			t.Fatalf("stats: %+v", d.Stats)
		}
	})
}
