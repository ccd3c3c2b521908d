package capture

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// ExpandPaths turns the -r arguments into the files to read: a directory
// gives its capture files (names ending .pcap, .pcapng, .cap, or those
// with .gz; hidden files skipped), a pattern that names no file (with *,
// ? or [) the files it matches; both sorted by name. Anything else ("-",
// a file, a missing path) is kept for OpenFiles to open or report.
func ExpandPaths(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		if a == "-" {
			out = append(out, a)
			continue
		}
		fi, err := os.Stat(a)
		switch {
		case err == nil && fi.IsDir():
			ents, err := os.ReadDir(a)
			if err != nil {
				return nil, fmt.Errorf("capture: %s: %w", a, pathErr(err))
			}
			n := len(out)
			for _, e := range ents {
				if name := e.Name(); !strings.HasPrefix(name, ".") && e.Type().IsRegular() && captureName(name) {
					out = append(out, filepath.Join(a, name))
				}
			}
			if len(out) == n {
				return nil, fmt.Errorf("capture: %s: no capture files in the directory (.pcap, .pcapng, .cap, .gz)", a)
			}
		case err != nil && strings.ContainsAny(a, "*?["):
			m, gerr := filepath.Glob(a)
			if gerr != nil {
				return nil, fmt.Errorf("capture: %s: %w", a, gerr)
			}
			if len(m) == 0 {
				return nil, fmt.Errorf("capture: %s: no file matches", a)
			}
			slices.Sort(m)
			out = append(out, m...)
		default:
			out = append(out, a)
		}
	}
	return out, nil
}

// captureName reports whether a file name looks like a capture (rotated
// files from tcpdump -C/-G or dumpcap -b keep these endings before any
// numbering: trace.pcap0 is not taken, trace_00001.pcap is).
func captureName(name string) bool {
	name = strings.ToLower(name)
	name = strings.TrimSuffix(strings.TrimSuffix(name, ".gz"), ".zst")
	for _, ext := range []string{".pcap", ".pcapng", ".cap"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// firstTime gives the time of the file's first record (not decoded), or
// false when it has none. The record is kept and returned first by Next.
func (s *fileSource) firstTime() (time.Time, bool) {
	if !s.hasPending && s.err == nil {
		data, ci, lt, frames, err := s.r.next()
		if err != nil {
			s.err = s.endErr(err)
			return time.Time{}, false
		}
		s.pending, s.pendingCI, s.pendingLT, s.pendingFrames, s.hasPending = data, ci, lt, frames, true
	}
	if !s.hasPending {
		return time.Time{}, false
	}
	return s.pendingCI.Timestamp, true
}
