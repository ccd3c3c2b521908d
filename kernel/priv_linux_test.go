//go:build linux

package kernel

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestOpen_unprivileged: as nobody, Open fails with one line that says what
// it needs (the line --kernel-reasons=auto prints).
func TestOpen_unprivileged(t *testing.T) {
	if os.Getenv("RSTSCOPE_KERNEL_NOBODY") == "1" {
		_, err := Open(Options{Tracefs: DefaultTracefs})
		if err == nil {
			t.Fatal("Open as nobody succeeded")
		}
		if !strings.Contains(err.Error(), "needs root, or CAP_BPF and CAP_PERFMON") || strings.Contains(err.Error(), "\n") {
			t.Fatalf("got %q, want one line naming the privileges", err)
		}
		t.Log(err)
		return
	}
	needRoot(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	for d := bin; d != "/" && d != "."; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(d, fi.Mode().Perm()|0o711); err != nil {
				t.Fatal(err)
			}
		}
	}
	copyExe := filepath.Join(bin, "kernel.test")
	if err := os.WriteFile(copyExe, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(copyExe, "-test.run=^TestOpen_unprivileged$", "-test.v")
	cmd.Env = append(os.Environ(), "RSTSCOPE_KERNEL_NOBODY=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestOpen_unprivileged") {
		t.Fatalf("as nobody: %v\n%s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "priv_linux_test") {
			t.Log(strings.TrimSpace(l))
		}
	}
}
