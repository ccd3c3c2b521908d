package lab

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// TestFixtures checks the saved lab captures without root: the kernel facts
// (every RST's sender and TTL) and rstscope's cause and origin of each RST,
// from the same table as TestLab. A missing capture fails: `make lab-pcaps`
// makes them.
func TestFixtures(t *testing.T) {
	if testing.Short() {
		t.Skip("builds rstscope; skipped with -short")
	}
	tl, err := buildTools(t.TempDir(), false)
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	dir := t.TempDir()
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			srv, cli := serverV4, clientV4
			if sc.v6 {
				srv, cli = serverV6, clientV6
			}
			for _, side := range []string{"client", "server"} {
				path := sc.name + "." + side + ".pcap"
				pkts, _, err := readPcap(path)
				if err != nil {
					t.Errorf("%s: %v (make lab-pcaps makes it)", path, err)
					continue
				}
				checkPackets(t, side, sc, pkts, cli, srv)
				if tl.rstscope == "" {
					continue
				}
				js := filepath.Join(dir, sc.name+"."+side+".json")
				if out, err := exec.Command(tl.rstscope, "-r", path, "--format", "json", "-o", js).CombinedOutput(); err != nil {
					t.Errorf("rstscope -r %s: %v: %s", path, err, out)
					continue
				}
				checkFindings(t, side, "file", sc, js)
			}
		})
	}
}
