package flows

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/rstscope/rstscope/capture"
)

// testDict stands for a table's dictionary in the round trips (filled
// by them; past its bounds words and MACs are coded whole).
var testDict frozenDict

// roundTrip encodes f (and hello) as a record and decodes it, with and
// without a dictionary; it fails t unless the decoded state equals f
// field by field (the ladder's unused slots aside: they are never read)
// and expands to the same Flow. It gives the record's length with the
// dictionary.
func roundTrip(t testing.TB, where string, f *flowState, hello *helloBuf) int {
	t.Helper()
	roundTrip1(t, where+" (no dictionary)", f, hello, nil)
	return roundTrip1(t, where, f, hello, &testDict)
}

func roundTrip1(t testing.TB, where string, f *flowState, hello *helloBuf, dict *frozenDict) int {
	t.Helper()
	base := frozenBase{ns: f.last - 12345, frame: f.firstFrame - 77}
	var c codec
	rec, ok := encodeFlow(&c, nil, f, hello, base, dict)
	if !ok {
		t.Fatalf("%s: too many fields for a record", where)
	}
	var got flowState
	gotHello, ok := decodeFlow(&c, append([]byte(nil), rec...), &got, base, nil, dict)
	if !ok {
		t.Fatalf("%s: record of %d bytes does not decode", where, len(rec))
	}
	want := *f
	want.ladder = usedLadder(f)
	if !reflect.DeepEqual(&got, &want) {
		t.Fatalf("%s: decoded state differs:\ngot  %s\nwant %s", where, dumpState(&got), dumpState(&want))
	}
	if !reflect.DeepEqual(gotHello, hello) {
		t.Fatalf("%s: got ClientHello buffer %+v, want %+v", where, gotHello, hello)
	}
	var a, b Flow
	got.expand(&a)
	f.expand(&b)
	if !reflect.DeepEqual(&a, &b) {
		t.Fatalf("%s: expanded flows differ:\ngot  %+v\nwant %+v", where, a, b)
	}
	return len(rec)
}

// usedLadder gives f's ladder with only the slots it holds (a copy).
func usedLadder(f *flowState) flowLadder {
	l := flowLadder{in: f.ladder.in}
	if f.ladder.ext != nil {
		l.ext = append([]flowSlot(nil), f.ladder.ext...)
	}
	n := f.packets()
	if h := l.len(n); h < l.capOf() {
		for j := h; j < l.capOf(); j++ {
			*l.slot(j) = flowSlot{}
		}
	}
	return l
}

// dumpState prints f with its out-of-line parts.
func dumpState(f *flowState) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%+v", *f)
	for i, d := range f.dirs {
		if d.req != nil {
			fmt.Fprintf(&b, "\n dir %d req %+v last %+v", i, d.req.Request, d.req.last)
		}
		if d.tls != nil {
			fmt.Fprintf(&b, "\n dir %d tls %+v", i, *d.tls)
		}
	}
	if f.evicted != nil {
		fmt.Fprintf(&b, "\n evicted %+v", *f.evicted)
	}
	return b.String()
}

// TestFrozen_roundTrip: the state of every flow of every capture of the
// repository, after each of its packets, decodes from its record exactly
// (HTTP and TLS requests, TLS record tracking, alerts, split
// ClientHellos, evicted flows, full ladders, IPv6 and tunnels included).
func TestFrozen_roundTrip(t *testing.T) {
	files := repoCaptures(t)
	var states, bytes int
	var kinds [8]int
	for _, path := range files {
		src, err := capture.OpenFile(path, 0, capture.FileOptions{})
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		tb := NewTable(Options{IdleEvict: time.Minute})
		tb.noSynOnly = true
		var p capture.Packet
		for {
			if err := src.Next(&p); err != nil {
				break
			}
			tb.Add(&p)
			h := p.FlowHash
			if h == 0 {
				h = capture.FlowHash(p.Src, p.Dst)
			}
			e := tb.flows.get(p.Src, p.Dst, h)
			if e == nil {
				continue
			}
			bytes += roundTrip(t, fmt.Sprintf("%s frame %d", path, p.Index), &e.st, e.hello)
			states++
			for _, d := range e.st.dirs {
				kinds[d.reqKind]++
				if d.tls != nil {
					kinds[7]++
				}
			}
			if e.hello != nil {
				kinds[0]++
			}
		}
		src.Close()
		tb.Close()
	}
	t.Logf("%d states of %d captures, %.1f bytes a record on average", states, len(files), float64(bytes)/float64(states))
	for k, what := range map[int]string{int(PayloadHTTPRequest): "HTTP requests", int(PayloadTLSClientHello): "ClientHellos", int(PayloadHTTPResponse): "HTTP responses", 7: "TLS states"} {
		if kinds[k] == 0 {
			t.Errorf("no state with %s: the captures do not test them", what)
		}
	}
}

// randomize sets every field reachable from v (a pointer) to a value from
// r: integers and bools at random, times as nsTime of a random instant or
// zero, strings of random bytes, pointers to a new value or nil; the
// caller fixes what the representation constrains (see randomState).
func randomize(r *rand.Rand, v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if r.IntN(3) == 0 {
			v.SetZero()
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		randomize(r, v.Elem())
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[netip.AddrPort]() {
			// As capture gives them: IPv4, IPv6 or IPv4-mapped IPv6, no zone.
			var b [16]byte
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			a := netip.AddrFrom16(b)
			switch r.IntN(3) {
			case 0:
				a = netip.AddrFrom4([4]byte(b[:4]))
			case 1:
				a = netip.AddrFrom16(netip.AddrFrom4([4]byte(b[:4])).As16())
			}
			v.Set(reflect.ValueOf(netip.AddrPortFrom(a, uint16(r.Uint32()))))
			return
		}
		if v.Type() == reflect.TypeFor[time.Time]() {
			var t time.Time
			if r.IntN(4) > 0 {
				t = nsTime(max(-9e18, min(9e18, int64(r.Uint64())>>r.IntN(64)))) // unixNano's range
			}
			v.Set(reflect.ValueOf(t))
			return
		}
		for i := range v.NumField() {
			f := v.Field(i)
			randomize(r, reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem())
		}
	case reflect.Array:
		for i := range v.Len() {
			randomize(r, v.Index(i))
		}
	case reflect.Slice: // set by the caller
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 0)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(r.Uint64()) >> r.IntN(64)) // small and large values alike
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(r.Uint64() >> r.IntN(65))
	case reflect.String:
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		v.SetString(string(b))
	default:
		panic("randomize: " + v.Kind().String())
	}
}

// randomState gives a flow state with every field random but what its
// representation fixes: the ladder has the blocks its packet count calls
// for, the history at most 32 letters, the ClientHello buffer a direction,
// no IP ID model (derived when a profile leaves the table, not kept).
func randomState(r *rand.Rand) (*flowState, *helloBuf) {
	f := new(flowState)
	randomize(r, reflect.ValueOf(f).Elem())
	switch r.IntN(4) { // ladders of every shape
	case 0:
		f.npk = uint64(r.IntN(5))
	case 1:
		f.npk = 5 + uint64(r.IntN(4))
	}
	f.ladder.ext = nil
	if k := ladderCap(f.npk) - 4; k > 0 {
		f.ladder.ext = make([]flowSlot, k)
		for i := range f.ladder.ext {
			randomize(r, reflect.ValueOf(&f.ladder.ext[i]).Elem())
		}
	}
	f.hist.historyLen %= 33
	for i := range f.dirs {
		f.dirs[i].ipid.Model, f.dirs[i].ipid.Step = 0, 0
	}
	var hello *helloBuf
	if r.IntN(3) == 0 {
		hello = &helloBuf{dir: Dir(1 + r.IntN(2)), need: r.IntN(maxHelloRaw), next: Seq(r.Uint32())}
		hello.b = make([]byte, r.IntN(hello.need+1))
		for i := range hello.b {
			hello.b[i] = byte(r.Uint32())
		}
	}
	for i := range f.dirs {
		if rq := f.dirs[i].req; rq != nil {
			for _, s := range []*string{&rq.Method, &rq.Path, &rq.Host, &rq.SNI, &rq.ALPN} {
				if r.IntN(8) == 0 {
					*s = httpMethods[r.IntN(len(httpMethods))]
				}
			}
		}
	}
	return f, hello
}

// TestFrozen_randomStates: states with every field random (20,000 of
// them) decode exactly: a field left out of the record, or coded with a
// prediction that loses bits, would decode as something else (zero).
func TestFrozen_randomStates(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20_000 {
		f, hello := randomState(r)
		roundTrip(t, fmt.Sprintf("random state %d", i), f, hello)
	}
}

// FuzzFrozenRoundTrip: a state made of random field values (seeded by
// the input) decodes from its record exactly.
func FuzzFrozenRoundTrip(f *testing.F) {
	f.Add(uint64(0), uint64(0))
	f.Add(uint64(1), uint64(99))
	f.Add(uint64(1<<63), uint64(12345))
	f.Fuzz(func(t *testing.T, a, b uint64) {
		r := rand.New(rand.NewPCG(a, b))
		st, hello := randomState(r)
		roundTrip(t, fmt.Sprintf("seed %d,%d", a, b), st, hello)
	})
}
