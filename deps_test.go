package main

import (
	"go/parser"
	"go/token"
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
	},
	"flows":      {"github.com/rstscope/rstscope/capture"},
	"heuristics": {"github.com/rstscope/rstscope/capture", "github.com/rstscope/rstscope/flows"},
	"correlate": {"github.com/rstscope/rstscope/capture", "github.com/rstscope/rstscope/flows",
		"github.com/rstscope/rstscope/heuristics"},
	"report": {
		"github.com/rstscope/rstscope/heuristics", "github.com/rstscope/rstscope/flows",
		"github.com/rstscope/rstscope/capture",
		"github.com/charmbracelet/lipgloss", "github.com/charmbracelet/lipgloss/table",
		"github.com/charmbracelet/x/term", "github.com/muesli/termenv",
	},
	"metrics": {
		"github.com/prometheus/client_golang/prometheus",
		"github.com/prometheus/client_golang/prometheus/collectors",
		"github.com/prometheus/client_golang/prometheus/promhttp",
	},
	"internal/pcapgen": nil,
	"cmd/rstgen":       {"github.com/rstscope/rstscope/internal/pcapgen"},
}

// TestDeps checks the imports of every non-test file of each package.
func TestDeps(t *testing.T) {
	for pkg, allowed := range allowedImports {
		files, _ := filepath.Glob(filepath.Join(pkg, "*.go"))
		if len(files) == 0 {
			continue // a package not written yet
		}
		ok := map[string]bool{}
		for _, a := range allowed {
			ok[a] = true
		}
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
				if !ok[path] {
					t.Errorf("%s imports %s: not allowed for package %s", f, path, pkg)
				}
			}
		}
	}
}
