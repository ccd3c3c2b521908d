package capture

import (
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// sinkRec is a Sink that keeps a copy of every packet it is given, into
// slots of its own.
type sinkRec struct {
	slot Packet
	got  []Packet
}

func (s *sinkRec) Slot() *Packet { return &s.slot }
func (s *sinkRec) Add(p *Packet) {
	q := *p
	q.Payload = append([]byte(nil), p.Payload...)
	q.Frame = nil // the frame's bytes are the reader's window, not kept
	s.got = append(s.got, q)
}

// nextAll reads src with Next, as read's per-packet loop does.
func nextAll(t *testing.T, src Source) []Packet {
	t.Helper()
	var s sinkRec
	for {
		err := src.Next(s.Slot())
		if err == io.EOF {
			return s.got
		}
		if err != nil {
			t.Fatal(err)
		}
		s.Add(s.Slot())
	}
}

// TestPump_sameAsNext: Pump gives the packets and Stats Next gives, in
// calls of every size, over one file (the file source's own loop,
// pumpPcap), the same cut by a snaplen, and two files merged (Next's,
// called for each packet), and ends with io.EOF and the count of the
// packets of the last call; after a stop it reads nothing.
func TestPump_sameAsNext(t *testing.T) {
	paths := []string{"../pcaps/demo.pcap", "../pcaps/refused.pcap"}
	// demo.pcap's frames cut at 70 bytes, as a snaplen cuts them: the
	// frames with data count in Stats.SnapCut.
	raw, err := os.ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	cut := append([]byte(nil), raw[:24]...)
	start := 24
	for _, end := range pcapRecordEnds(t, raw) {
		h := append([]byte(nil), raw[start:start+16]...)
		frame := raw[start+16 : end]
		frame = frame[:min(len(frame), 70)]
		binary.LittleEndian.PutUint32(h[8:], uint32(len(frame)))
		cut = append(append(cut, h...), frame...)
		start = end
	}
	cutPath := filepath.Join(t.TempDir(), "demo-snap70.pcap")
	if err := os.WriteFile(cutPath, cut, 0o644); err != nil {
		t.Fatal(err)
	}
	open := func(kind string) Source {
		t.Helper()
		var src Source
		var err error
		switch kind {
		case "merged":
			src, err = OpenFiles(paths, FileOptions{})
		case "snaplen":
			src, err = OpenFile(cutPath, 0, FileOptions{})
		default:
			src, err = OpenFile(paths[0], 0, FileOptions{})
		}
		if err != nil {
			t.Fatal(err)
		}
		return Follow(src, make(chan struct{}), nil)
	}
	for _, kind := range []string{"one", "merged", "snaplen"} {
		ref := open(kind)
		want := nextAll(t, ref)
		wantStats := ref.Stats()
		ref.Close()
		if len(want) < 100 {
			t.Fatalf("%s: %d packets, want a capture of 100 or more", kind, len(want))
		}
		if kind == "snaplen" && wantStats.SnapCut == 0 {
			t.Fatalf("%s: no frame counted as cut by the snaplen", kind)
		}
		for _, max := range []int{1, 7, 64, len(want), len(want) + 1} {
			src := open(kind)
			if _, ok := src.(*followFile); !ok {
				t.Fatalf("Follow gave a %T, not the followFile that pumps", src)
			}
			var s sinkRec
			for {
				n, err := src.(Pumper).Pump(&s, max)
				if err == io.EOF {
					if n >= max {
						t.Errorf("%s, max %d: io.EOF with %d packets read", kind, max, n)
					}
					break
				}
				if err != nil || n != max {
					t.Fatalf("%s, max %d: Pump = %d, %v; want %d, nil", kind, max, n, err, max)
				}
			}
			if st := src.Stats(); !reflect.DeepEqual(st, wantStats) {
				t.Errorf("%s, max %d: Stats %+v, want %+v", kind, max, st, wantStats)
			}
			src.Close()
			if len(s.got) != len(want) {
				t.Fatalf("%s, max %d: %d packets, want %d", kind, max, len(s.got), len(want))
			}
			for i := range want {
				a, b := want[i], s.got[i]
				if a.Index != b.Index || a.Time != b.Time || a.Src != b.Src || a.Dst != b.Dst || a.Seq != b.Seq ||
					a.Flags != b.Flags || a.FlowHash != b.FlowHash || string(a.Payload) != string(b.Payload) {
					t.Fatalf("%s, max %d: packet %d is %+v, want %+v", kind, max, i, b, a)
				}
			}
		}
	}
	stop := make(chan struct{})
	src, err := OpenFile(paths[0], 0, FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f := Follow(src, stop, nil).(*followFile)
	defer f.Close()
	close(stop)
	for !f.stopped.Load() {
	}
	var s sinkRec
	if n, err := f.Pump(&s, 64); n != 0 || err != io.EOF {
		t.Errorf("Pump after a stop = %d, %v; want 0, io.EOF", n, err)
	}
}
