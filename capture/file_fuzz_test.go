package capture

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzFileSource feeds arbitrary bytes to the file reader: it must not
// panic, must end with io.EOF or an error, and every returned packet's
// frame must be a record no longer than maxRecordLen. Run it with
// -fuzzminimizetime 2s: minimizing the multi-KiB seeds otherwise stalls
// the fuzzer for minutes.
func FuzzFileSource(f *testing.F) {
	for _, name := range []string{
		"tcpdump/tcp_rst_data.pcap",
		"zeek/Traces/http/get-to-ssh-server.pcap",
		"gopacket/pcapgo/tests/be/test202.pcapng",
		"ndpi/tls_1.3_unidirectional_server.pcapng",
	} {
		raw, err := os.ReadFile(filepath.Join(corpusDir, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := newFileSource(bytes.NewReader(data), nil, "fuzz", 0, FileOptions{})
		if err != nil {
			return
		}
		var p Packet
		var prev uint64
		for i := 0; ; i++ {
			err := s.Next(&p)
			if err == io.EOF {
				break
			}
			if err != nil {
				if !errors.Is(err, ErrTruncated) {
					t.Fatalf("Next: %v, want io.EOF or ErrTruncated", err)
				}
				if !s.Stats().Truncated {
					t.Fatal("ErrTruncated without Stats.Truncated")
				}
				break
			}
			if len(p.Frame) > maxRecordLen || p.Index <= prev {
				t.Fatalf("packet %d: frame %d bytes, Index %d after %d", i, len(p.Frame), p.Index, prev)
			}
			prev = p.Index
		}
		st := s.Stats()
		if st.TCPPackets+st.NonTCP+st.Undecodable+st.Filtered != st.Packets {
			t.Fatalf("Stats do not add up: %+v", st)
		}
	})
}
