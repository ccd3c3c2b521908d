package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestStartProfile: RSTSCOPE_CPUPROFILE and RSTSCOPE_TRACE each write
// their file for the whole run (a gzipped pprof profile, a runtime
// trace); unset they write nothing, and a path that cannot be created is
// ignored rather than an error (the run itself must not fail for it).
func TestStartProfile(t *testing.T) {
	dir := t.TempDir()
	cpu, tr := filepath.Join(dir, "cpu.out"), filepath.Join(dir, "trace.out")
	t.Setenv("RSTSCOPE_CPUPROFILE", cpu)
	t.Setenv("RSTSCOPE_TRACE", tr)
	stop := startProfile()
	n := 0
	for i := range 1_000_000 {
		n += i % 7
	}
	stop()
	if b, err := os.ReadFile(cpu); err != nil || !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
		t.Errorf("CPU profile %s: %v, %d bytes, want a gzipped pprof profile", cpu, err, len(b))
	}
	if b, err := os.ReadFile(tr); err != nil || !bytes.HasPrefix(b, []byte("go 1.")) {
		t.Errorf("trace %s: %v, %d bytes, want a runtime trace (\"go 1.xx trace\" header)", tr, err, len(b))
	}

	t.Setenv("RSTSCOPE_CPUPROFILE", "")
	t.Setenv("RSTSCOPE_TRACE", filepath.Join(dir, "missing", "trace.out"))
	startProfile()()
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("%d files in %s after a run with the variables unset or unwritable, want the 2 of before", len(entries), dir)
	}
}
