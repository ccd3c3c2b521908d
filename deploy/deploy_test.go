package deploy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// buildRstscope builds the binary into a temporary directory.
func buildRstscope(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rstscope")
	if out, err := exec.Command("go", "build", "-o", bin, "..").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestSystemdUnit: systemd-analyze verify accepts the unit without a
// single warning (an unknown key is only a warning there), with ExecStart
// pointing at a freshly built rstscope.
func TestSystemdUnit(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (package systemd): the unit is checked where systemd is present")
	}
	unit, err := os.ReadFile("rstscope.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN CAP_BPF CAP_PERFMON CAP_DAC_READ_SEARCH", "DynamicUser=yes",
		"--kernel-reasons=auto",
		"StateDirectory=rstscope", "Restart=on-failure", "-G 3600 -W 168 -C 100", "NoNewPrivileges=yes",
	} {
		if !bytes.Contains(unit, []byte(want)) {
			t.Errorf("rstscope.service lacks %q", want)
		}
	}
	bin := buildRstscope(t)
	path := filepath.Join(t.TempDir(), "rstscope.service")
	if err := os.WriteFile(path, bytes.ReplaceAll(unit, []byte("/usr/local/bin/rstscope"), []byte(bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	// The ExecStart arguments are rstscope's: it accepts them (a usage
	// error exits 2 at once; --version only checks parsing).
	args := execStart(t, string(unit))
	cmd := exec.Command(bin, append(args, "--version")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("rstscope %s --version: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// execStart gives the unit's ExecStart arguments with the default
// Environment= values substituted and %% unescaped.
func execStart(t *testing.T, unit string) []string {
	t.Helper()
	unit = strings.ReplaceAll(unit, "\\\n", " ")
	env := map[string]string{}
	var line string
	for _, l := range strings.Split(unit, "\n") {
		if v, ok := strings.CutPrefix(l, "Environment="); ok {
			k, val, _ := strings.Cut(v, "=")
			env[k] = val
		}
		if v, ok := strings.CutPrefix(l, "ExecStart="); ok {
			line = v
		}
	}
	var args []string
	for _, f := range strings.Fields(line)[1:] {
		for k, v := range env {
			f = strings.ReplaceAll(strings.ReplaceAll(f, "${"+k+"}", v), "$"+k, v)
		}
		if f = strings.ReplaceAll(f, "%%", "%"); f != "" {
			args = append(args, f)
		}
	}
	return args
}

// TestContainerfile builds the image with podman or docker where one can
// run; elsewhere it says why it skips.
func TestContainerfile(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the container build is long")
	}
	var tool string
	for _, name := range []string{"podman", "docker"} {
		if p, err := exec.LookPath(name); err == nil {
			if out, err := exec.Command(p, "info").CombinedOutput(); err != nil {
				t.Logf("%s is installed but cannot run: %v: %s", name, err, lastLines(out, 1))
				continue
			}
			tool = p
			break
		}
	}
	if tool == "" {
		t.Skip("no podman or docker that can run here: the Containerfile is built where one is (podman build -f deploy/Containerfile .)")
	}
	tag := "rstscope-test:" + filepath.Base(t.TempDir())
	out, err := exec.Command(tool, "build", "-f", "deploy/Containerfile", "-t", tag, "..").CombinedOutput()
	if err != nil {
		// A machine without a registry cannot pull the base images.
		if bytes.Contains(out, []byte("pull")) || bytes.Contains(out, []byte("resolve")) {
			t.Skipf("%s build: base images cannot be pulled here: %s", tool, lastLines(out, 3))
		}
		t.Fatalf("%s build: %v\n%s", tool, err, out)
	}
	defer exec.Command(tool, "rmi", tag).Run()
	out, err = exec.Command(tool, "run", "--rm", tag, "--version").CombinedOutput()
	if err != nil || !bytes.HasPrefix(out, []byte("rstscope ")) {
		t.Errorf("%s run %s --version: %v\n%s", tool, tag, err, out)
	}
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestDaemonSet parses the manifests and checks what a node sensor needs:
// host network, the capture capabilities and nothing more, non-root,
// the metrics port served, findings to stdout.
func TestDaemonSet(t *testing.T) {
	f, err := os.Open("daemonset.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var kinds []string
	var ds struct {
		Kind string
		Spec struct {
			Template struct {
				Metadata struct{ Annotations map[string]string }
				Spec     struct {
					HostNetwork bool `yaml:"hostNetwork"`
					Volumes     []struct {
						Name     string
						HostPath struct{ Path string } `yaml:"hostPath"`
					}
					Containers []struct {
						Args         []string
						VolumeMounts []struct {
							Name      string
							MountPath string `yaml:"mountPath"`
							ReadOnly  bool   `yaml:"readOnly"`
						} `yaml:"volumeMounts"`
						Ports []struct {
							Name          string
							ContainerPort int `yaml:"containerPort"`
						}
						SecurityContext struct {
							RunAsNonRoot             bool  `yaml:"runAsNonRoot"`
							AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
							Capabilities             struct{ Add, Drop []string }
						} `yaml:"securityContext"`
					}
				}
			}
		}
	}
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("daemonset.yaml: %v", err)
		}
		var head struct{ Kind string }
		if err := doc.Decode(&head); err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, head.Kind)
		if head.Kind == "DaemonSet" {
			if err := doc.Decode(&ds); err != nil {
				t.Fatalf("DaemonSet: %v", err)
			}
		}
	}
	if !slices.Equal(kinds, []string{"Namespace", "DaemonSet"}) {
		t.Fatalf("kinds: got %q, want Namespace, DaemonSet", kinds)
	}
	spec := ds.Spec.Template.Spec
	if !spec.HostNetwork || len(spec.Containers) != 1 {
		t.Fatalf("DaemonSet: hostNetwork %v, %d containers; want hostNetwork and one container", spec.HostNetwork, len(spec.Containers))
	}
	c := spec.Containers[0]
	sc := c.SecurityContext
	if got := slices.Sorted(slices.Values(sc.Capabilities.Add)); !slices.Equal(got, []string{"BPF", "DAC_READ_SEARCH", "NET_ADMIN", "NET_RAW", "PERFMON"}) {
		t.Errorf("capabilities added: got %q, want BPF, DAC_READ_SEARCH, NET_ADMIN, NET_RAW, PERFMON", got)
	}
	if !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) || !sc.RunAsNonRoot {
		t.Errorf("securityContext: drop %q, runAsNonRoot %v; want drop ALL, non-root", sc.Capabilities.Drop, sc.RunAsNonRoot)
	}
	if sc.AllowPrivilegeEscalation == nil || !*sc.AllowPrivilegeEscalation {
		t.Errorf("allowPrivilegeEscalation must be true: no_new_privs would ignore the binary's file capabilities")
	}
	args := strings.Join(c.Args, " ")
	// --kernel-reasons=auto reads the host's tracefs, mounted read-only.
	if !strings.Contains(args, "--kernel-reasons=auto") || len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath != "/sys/kernel/tracing" ||
		!c.VolumeMounts[0].ReadOnly || len(spec.Volumes) != 1 || spec.Volumes[0].HostPath.Path != "/sys/kernel/tracing" {
		t.Errorf("args %q, mounts %+v, volumes %+v: want --kernel-reasons=auto and the host's tracefs read-only at /sys/kernel/tracing", args, c.VolumeMounts, spec.Volumes)
	}
	if !strings.Contains(args, "--format ndjson") || !strings.Contains(args, "--metrics $(NODE_IP):9471") || strings.Contains(args, " -o ") {
		t.Errorf("args %q: want findings as ndjson on stdout and --metrics on port 9471", args)
	}
	if len(c.Ports) != 1 || c.Ports[0].ContainerPort != 9471 || ds.Spec.Template.Metadata.Annotations["prometheus.io/port"] != "9471" {
		t.Errorf("ports %+v, annotations %v: want metrics on 9471", c.Ports, ds.Spec.Template.Metadata.Annotations)
	}
}

// TestPrometheusConfig: promtool accepts the scrape config and the alert
// rules, and the rules' unit tests (testdata/alerts_test.yml: a burst of
// middlebox_injected or refused fires, quiet series do not) pass.
func TestPrometheusConfig(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed: run `make deps` (Debian package prometheus), then `make test`")
	}
	for _, args := range [][]string{
		{"check", "config", "prometheus.yml"},
		{"check", "rules", "alerts.yml"},
		{"test", "rules", "testdata/alerts_test.yml"},
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("SUCCESS")) {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
