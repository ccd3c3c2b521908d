package capture

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzFileSource feeds arbitrary bytes to the file reader: it must not
// panic, must end with io.EOF or an error, and every returned packet's
// frame must be a record no longer than maxRecordLen. Run it with
// -fuzzminimizetime 2s: minimizing the multi-KiB seeds otherwise stalls
// the fuzzer for minutes.
func FuzzFileSource(f *testing.F) {
	addFileSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := newFileSource(bytes.NewReader(data), nil, "fuzz", 0, FileOptions{})
		if err != nil {
			return
		}
		defer s.Close() // a compressed input's reading goroutine
		var p Packet
		var prev uint64
		// A compressed input may stand for far more records than it has
		// bytes (a zstd RLE block of zeros: 128 KiB of empty records from
		// four bytes); the first 100,000 packets are enough to check.
		for i := 0; i < 100_000; i++ {
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

// addFileSeeds seeds a fuzz target with captures of the corpus: pcap
// (little- and big-endian) and pcapng.
func addFileSeeds(f *testing.F) {
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
	// The same capture compressed both ways.
	raw, err := os.ReadFile(filepath.Join(corpusDir, "tcpdump/tcp_rst_data.pcap"))
	if err != nil {
		f.Fatal(err)
	}
	zst, err := zstdBytes(raw)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(zst)
	f.Add(gzipData(raw))
}

// FuzzPrefetch reads arbitrary bytes directly and through Prefetch, which
// reads a classic pcap's records its own way when it can (nextPcap): the
// same packets, Stats after each and end. (A target of its own: each input
// costs Prefetch's batches and goroutine, which would slow FuzzFileSource
// ten times.)
func FuzzPrefetch(f *testing.F) {
	addFileSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		open := func() Source {
			s, err := newFileSource(bytes.NewReader(data), nil, "fuzz", 0, FileOptions{})
			if err != nil {
				return nil
			}
			return s
		}
		direct := open()
		if direct == nil {
			return
		}
		defer direct.Close()
		// At most 20,000 packets each: a compressed input may stand for
		// far more (see FuzzFileSource), and drain keeps them all.
		want, wantErr, wantStats := drain(t, direct, 20_000)
		pre := Prefetch(open())
		defer pre.Close()
		got, gotErr, gotStats := drain(t, pre, 20_000)
		if fmtErr(gotErr) != fmtErr(wantErr) || len(got) != len(want) {
			t.Fatalf("got %d packets, end %v; want %d, end %v", len(got), gotErr, len(want), wantErr)
		}
		for i := range want {
			if !reflect.DeepEqual(got[i], want[i]) || !reflect.DeepEqual(gotStats[i], wantStats[i]) {
				t.Fatalf("frame %d: got %+v (stats %+v), want %+v (stats %+v)", want[i].Index, got[i], gotStats[i], want[i], wantStats[i])
			}
		}
		if g, w := gotStats[len(gotStats)-1], wantStats[len(wantStats)-1]; !reflect.DeepEqual(g, w) {
			t.Fatalf("final stats: got %+v, want %+v", g, w)
		}
	})
}

// FuzzPump reads arbitrary bytes through Follow with Next and with Pump,
// whose own loops over a pcap or pcapng file's records (pumpPcap, pumpNg)
// must take exactly what the reader's next would: the same packets (all
// but their frame bytes, which alias the window), link types known as
// each came, the same end and Stats.
func FuzzPump(f *testing.F) {
	addFileSeeds(f)
	raw, err := os.ReadFile("../pcaps/demo.pcap")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(demoAsPcapng(f, raw))
	f.Fuzz(func(t *testing.T, data []byte) {
		open := func() Source {
			s, err := newFileSource(bytes.NewReader(data), nil, "fuzz", 0, FileOptions{})
			if err != nil {
				return nil
			}
			return Follow(s, make(chan struct{}), nil)
		}
		ref := open()
		if ref == nil {
			return
		}
		defer ref.Close()
		want := sinkRec{src: ref.(LinkTyper)}
		var wantErr error
		for len(want.got) < 20_000 {
			if wantErr = ref.Next(want.Slot()); wantErr != nil {
				break
			}
			want.Add(want.Slot())
		}
		src := open()
		defer src.Close()
		got := sinkRec{src: src.(LinkTyper)}
		var gotErr error
		for len(got.got) < 20_000 && gotErr == nil {
			_, gotErr = src.(Pumper).Pump(&got, 7)
		}
		if len(got.got) > len(want.got) { // Pump's last call may pass the cap
			got.got, got.links = got.got[:len(want.got)], got.links[:len(want.got)]
		}
		if len(want.got) < 20_000 && fmtErr(gotErr) != fmtErr(wantErr) || len(got.got) != len(want.got) {
			t.Fatalf("Pump: %d packets, end %v; Next: %d, end %v", len(got.got), gotErr, len(want.got), wantErr)
		}
		for i := range want.got {
			g, w := got.got[i], want.got[i]
			g.Frame, w.Frame = nil, nil
			if !reflect.DeepEqual(g, w) || got.links[i] != want.links[i] {
				t.Fatalf("packet %d: Pump gave %+v (%d link types), Next %+v (%d)", i, g, got.links[i], w, want.links[i])
			}
		}
		if len(want.got) < 20_000 && !reflect.DeepEqual(src.Stats(), ref.Stats()) {
			t.Fatalf("Stats: Pump %+v, Next %+v", src.Stats(), ref.Stats())
		}
	})
}
