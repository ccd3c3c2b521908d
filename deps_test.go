package main

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// allowedImports lists, per package, the non-standard-library imports it
// may use: the pipeline's one-way direction capture <- flows <- heuristics
// <- report (main wires them); only capture touches gopacket, only report
// touches lipgloss. Fix the code, not this list.
var allowedImports = map[string][]string{
	"capture": {
		"github.com/gopacket/gopacket", "github.com/gopacket/gopacket/layers",
		"github.com/gopacket/gopacket/pcap", "github.com/gopacket/gopacket/pcapgo",
		"github.com/klauspost/compress/gzip", // gzip captures: its inflate is 1.5x the standard library's
		"github.com/klauspost/compress/zstd", // zstd captures (the same module)
		"github.com/klauspost/compress/s2",   // -w's spool (the same module)
	},
	"flows":      {"github.com/rstscope/rstscope/capture"},
	"heuristics": {"github.com/rstscope/rstscope/capture", "github.com/rstscope/rstscope/flows"},
	"correlate": {"github.com/rstscope/rstscope/capture", "github.com/rstscope/rstscope/flows",
		"github.com/rstscope/rstscope/heuristics"},
	"report": {
		"github.com/rstscope/rstscope/heuristics",
		"github.com/charmbracelet/lipgloss", "github.com/charmbracelet/lipgloss/table",
		"github.com/charmbracelet/x/term", "github.com/muesli/termenv",
		"github.com/klauspost/compress/s2", // the spill file's blocks (capture's compression module)
	},
	"deploy": nil, // files and their tests only
	"metrics": {
		"github.com/prometheus/client_golang/prometheus",
		"github.com/prometheus/client_golang/prometheus/collectors",
		"github.com/prometheus/client_golang/prometheus/promhttp",
	},
	"kernel": {
		"github.com/cilium/ebpf", "github.com/cilium/ebpf/asm", "github.com/cilium/ebpf/btf",
		"github.com/cilium/ebpf/features", "github.com/cilium/ebpf/link", "github.com/cilium/ebpf/ringbuf",
		"golang.org/x/sys/unix",
		"github.com/rstscope/rstscope/flows", "github.com/rstscope/rstscope/heuristics",
	},
	".": {
		"github.com/rstscope/rstscope/capture", "github.com/rstscope/rstscope/correlate",
		"github.com/rstscope/rstscope/flows", "github.com/rstscope/rstscope/heuristics",
		"github.com/rstscope/rstscope/report", "github.com/rstscope/rstscope/internal/cli",
		"github.com/spf13/pflag",
	},
	"internal/cli": {
		"github.com/rstscope/rstscope/capture", "github.com/rstscope/rstscope/correlate",
		"github.com/rstscope/rstscope/flows", "github.com/rstscope/rstscope/heuristics",
		"github.com/rstscope/rstscope/report", "github.com/rstscope/rstscope/metrics",
		"github.com/rstscope/rstscope/kernel", // the host kernel's account (OpenKernel)
		"github.com/spf13/pflag",
		"github.com/charmbracelet/x/term", // IsTerminal: the terminal ioctl, not "a character device"
	},
	"internal/pcapgen":   nil,
	"internal/netnstest": {"golang.org/x/sys/unix"},
	"cmd/rstgen":         {"github.com/rstscope/rstscope/internal/pcapgen"},
}

// TestDeps checks the imports of every non-test file of each package.
func TestDeps(t *testing.T) {
	for pkg, allowed := range allowedImports {
		files, _ := filepath.Glob(filepath.Join(pkg, "*.go"))
		if len(files) == 0 {
			t.Errorf("package %s: no Go files: remove it from allowedImports", pkg)
			continue
		}
		ok := map[string]bool{}
		for _, a := range allowed {
			ok[a] = true
		}
		used := map[string]bool{}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, im := range af.Imports {
				path, _ := strconv.Unquote(im.Path.Value)
				if !strings.Contains(strings.Split(path, "/")[0], ".") {
					continue // standard library
				}
				used[path] = true
				if !ok[path] {
					t.Errorf("%s imports %s: not allowed for package %s", f, path, pkg)
				}
			}
		}
		// The list is what is imported, no more: an allowance nothing
		// uses would let a new dependency in unreviewed.
		for _, a := range allowed {
			if !used[a] {
				t.Errorf("package %s may import %s but does not: remove it from allowedImports", pkg, a)
			}
		}
	}
	// Every package is listed.
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if name := d.Name(); path != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "pcaps" || name == "bench") {
			return filepath.SkipDir
		}
		if files, _ := filepath.Glob(filepath.Join(path, "*.go")); len(files) > 0 {
			if _, ok := allowedImports[path]; !ok {
				t.Errorf("package %s is not in allowedImports", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
