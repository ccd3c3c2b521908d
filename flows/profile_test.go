package flows

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestIPIDModel(t *testing.T) {
	seq := func(start uint16, step uint16, n int) []uint16 {
		out := make([]uint16, n)
		for i := range out {
			out[i] = start + uint16(i)*step
		}
		return out
	}
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]uint16, 50)
	for i := range random {
		random[i] = uint16(rng.Uint32())
	}
	tests := []struct {
		name  string
		ids   []uint16
		model IPIDModel
		step  uint16
	}{
		{"too_few", []uint16{1, 2}, IPIDUnknown, 0},
		{"linux_per_socket", seq(31000, 1, 20), IPIDIncrementing, 1},
		{"wraps", seq(65530, 1, 12), IPIDIncrementing, 1},
		{"zero_linux_no_socket", make([]uint16, 10), IPIDZero, 0},
		{"synack_zero_then_counter", append([]uint16{0}, seq(4242, 1, 5)...), IPIDIncrementing, 1},
		{"global_counter_step_256", seq(100, 256, 10), IPIDIncrementing, 256},
		{"random", random, IPIDRandom, 0},
		{"step_too_large", seq(1, 5000, 10), IPIDRandom, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s IPIDStats
			for _, id := range tt.ids {
				s.Add(id)
			}
			if s.Model != IPIDUnknown || s.Step != 0 {
				t.Errorf("Add set the model (%v step %d): it is derived when the stats leave the table", s.Model, s.Step)
			}
			s = s.settled()
			if s.Model != tt.model || (tt.model == IPIDIncrementing && s.Step != tt.step) {
				t.Errorf("got %v step %d, want %v step %d (zero %d small %d large %d)", s.Model, s.Step, tt.model, tt.step, s.Zero, s.Small, s.Large)
			}
			if s.Last != tt.ids[len(tt.ids)-1] || s.Samples != uint32(len(tt.ids)) {
				t.Errorf("got last %d samples %d, want %d %d", s.Last, s.Samples, tt.ids[len(tt.ids)-1], len(tt.ids))
			}
		})
	}
	var s IPIDStats
	for _, id := range seq(65534, 1, 3) {
		s.Add(id)
	}
	if d := s.Distance(2); d != 2 {
		t.Errorf("distance across wrap: got %d, want 2", d)
	}
}

func TestTTLStats(t *testing.T) {
	var s TTLStats
	for _, v := range []uint8{64, 64, 52, 52, 52, 1, 2, 3, 255} {
		s.Add(v)
	}
	if s.Mode != 52 || s.Min != 1 || s.Max != 255 || s.Count != 9 || s.Stable(1) {
		t.Errorf("got mode %d min %d max %d count %d, want 52 1 255 9 not stable", s.Mode, s.Min, s.Max, s.Count)
	}
	var tie TTLStats
	tie.Add(64)
	tie.Add(128)
	if tie.Mode != 64 {
		t.Errorf("tie: got mode %d, want the first seen (64)", tie.Mode)
	}
}

// TestProfile_cutPayloads: a data packet whose captured payload is shorter
// than its TCP length (the capture's snaplen) counts in its direction's
// CutPayloads; a whole payload, an empty ACK and a RST do not.
func TestProfile_cutPayloads(t *testing.T) {
	pkts := ladder(t, lines(handshake, []string{
		"C>S PA seq=101 ack=301 len=100", // cut to 0 bytes
		"S>C A seq=301 ack=201",
		"S>C PA seq=301 ack=201 len=300", // cut to 64 bytes
		"S>C PA seq=601 ack=201 len=40",  // whole
		"C>S A seq=201 ack=641",
		"C>S PA seq=201 ack=641 len=10", // cut to 9 bytes
		"S>C R seq=641",
	})...)
	pkts[3].Payload = pkts[3].Payload[:0]
	pkts[5].Payload = pkts[5].Payload[:64]
	pkts[8].Payload = pkts[8].Payload[:9]
	e := run(t, Options{}, pkts).one(t)
	c, s := &e.Flow.Dirs[0], &e.Flow.Dirs[1]
	if c.CutPayloads != 2 || c.DataPackets != 2 {
		t.Errorf("client: got %d of %d data packets cut, want 2 of 2", c.CutPayloads, c.DataPackets)
	}
	if s.CutPayloads != 1 || s.DataPackets != 2 {
		t.Errorf("server: got %d of %d data packets cut, want 1 of 2", s.CutPayloads, s.DataPackets)
	}
	if c.Bytes != 110 || s.Bytes != 340 {
		t.Errorf("bytes: got %d/%d, want the wire lengths 110/340", c.Bytes, s.Bytes)
	}
}

// TestTTLStats_againstCounts: after every sample of random series (a few
// TTLs, mostly one, as real senders give; a few TTLs equally often, as a
// host behind a load balancer gives, so that the mode moves and ties; and
// hand-built stats without the remembered slot), Count, Min, Max and Mode
// are what counting all samples gives (Mode: the most frequent of the
// first four distinct values, ties to the first seen).
func TestTTLStats_againstCounts(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for run := range 2000 {
		var s TTLStats
		if run%5 == 0 {
			s = TTLStats{Count: 3, Min: 60, Max: 64, Mode: 64, Vals: [4]uint8{60, 64}, Counts: [4]uint32{1, 2}}
		}
		counts := map[uint8]uint32{}
		var order []uint8
		for i, v := range s.Vals {
			if s.Counts[i] > 0 {
				counts[v] = s.Counts[i]
				order = append(order, v)
			}
		}
		n, lo, hi := s.Count, s.Min, s.Max
		vals := []uint8{64, 63, 128, 255, 1, 60}[:2+r.IntN(5)]
		for range 1 + r.IntN(50) {
			v := vals[0]
			if r.IntN(4) == 0 || run%3 == 1 {
				v = vals[r.IntN(len(vals))]
			}
			s.Add(v)
			if _, ok := counts[v]; !ok && len(order) < 4 {
				order = append(order, v)
			}
			if _, ok := counts[v]; ok || len(order) <= 4 && slices.Contains(order, v) {
				counts[v]++
			}
			if n == 0 || v < lo {
				lo = v
			}
			if n == 0 || v > hi {
				hi = v
			}
			n++
			mode := order[0]
			for _, o := range order {
				if counts[o] > counts[mode] {
					mode = o
				}
			}
			if s.Count != n || s.Min != lo || s.Max != hi || s.Mode != mode {
				t.Fatalf("run %d after %d: %+v, want count %d min %d max %d mode %d (counts %v)", run, n, s, n, lo, hi, mode, counts)
			}
		}
	}
}
