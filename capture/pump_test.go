package capture

import (
	"io"
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

// TestPump_sameAsNext: Pump gives the packets Next gives, in calls of
// every size, over one file (the file source's own loop) and over two
// merged (Next's, called for each packet), and ends with io.EOF and the
// count of the packets of the last call; after a stop it reads nothing.
func TestPump_sameAsNext(t *testing.T) {
	paths := []string{"../pcaps/demo.pcap", "../pcaps/refused.pcap"}
	open := func(merged bool) Source {
		t.Helper()
		var src Source
		var err error
		if merged {
			src, err = OpenFiles(paths, FileOptions{})
		} else {
			src, err = OpenFile(paths[0], 0, FileOptions{})
		}
		if err != nil {
			t.Fatal(err)
		}
		return Follow(src, make(chan struct{}), nil)
	}
	for _, merged := range []bool{false, true} {
		ref := open(merged)
		want := nextAll(t, ref)
		ref.Close()
		if len(want) < 100 {
			t.Fatalf("merged %v: %d packets, want a capture of 100 or more", merged, len(want))
		}
		for _, max := range []int{1, 7, 64, len(want), len(want) + 1} {
			src := open(merged)
			if _, ok := src.(*followFile); !ok {
				t.Fatalf("Follow gave a %T, not the followFile that pumps", src)
			}
			var s sinkRec
			for {
				n, err := src.(Pumper).Pump(&s, max)
				if err == io.EOF {
					if n >= max {
						t.Errorf("merged %v, max %d: io.EOF with %d packets read", merged, max, n)
					}
					break
				}
				if err != nil || n != max {
					t.Fatalf("merged %v, max %d: Pump = %d, %v; want %d, nil", merged, max, n, err, max)
				}
			}
			src.Close()
			if len(s.got) != len(want) {
				t.Fatalf("merged %v, max %d: %d packets, want %d", merged, max, len(s.got), len(want))
			}
			for i := range want {
				a, b := want[i], s.got[i]
				if a.Index != b.Index || a.Time != b.Time || a.Src != b.Src || a.Dst != b.Dst || a.Seq != b.Seq ||
					a.Flags != b.Flags || a.FlowHash != b.FlowHash || string(a.Payload) != string(b.Payload) {
					t.Fatalf("merged %v, max %d: packet %d is %+v, want %+v", merged, max, i, b, a)
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
