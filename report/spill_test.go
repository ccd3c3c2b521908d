package report

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rstscope/rstscope/heuristics"
)

// randomFinding is a Finding whose every field, found by reflection, is
// set at random (a pointer or list left nil one time in four): a field
// added to Finding later is filled too, so the tests that use it cover
// it without being told.
func randomFinding(t testing.TB, r *rand.Rand) heuristics.Finding {
	var f heuristics.Finding
	fillRandom(t, r, reflect.ValueOf(&f).Elem(), "Finding")
	return f
}

var (
	timeType     = reflect.TypeFor[time.Time]()
	addrPortType = reflect.TypeFor[netip.AddrPort]()
)

// fillRandom sets v, found at path, to a random value: strings of any
// bytes (controls, quotes, invalid UTF-8, U+2028) or of JSON's
// vocabulary, integers of every size, times in UTC to the nanosecond,
// IPv4, IPv6 (with a zone at times) and invalid addresses. A kind it
// does not know fails t: teach it, rather than leave a field untested.
func fillRandom(t testing.TB, r *rand.Rand, v reflect.Value, path string) {
	switch v.Type() {
	case timeType:
		var tm time.Time
		if r.IntN(8) > 0 {
			tm = time.Unix(r.Int64N(600e9)-300e9, r.Int64N(1e9)).UTC() // years about -7500 to 11500
		}
		v.Set(reflect.ValueOf(tm))
		return
	case addrPortType:
		v.Set(reflect.ValueOf(randomAddrPort(r)))
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			sf := v.Type().Field(i)
			if !sf.IsExported() {
				t.Fatalf("%s.%s: unexported field: teach fillRandom its type %s", path, sf.Name, v.Type())
			}
			fillRandom(t, r, v.Field(i), path+"."+sf.Name)
		}
	case reflect.Pointer:
		if r.IntN(4) == 0 {
			v.SetZero()
			return
		}
		p := reflect.New(v.Type().Elem())
		fillRandom(t, r, p.Elem(), path)
		v.Set(p)
	case reflect.Slice:
		switch r.IntN(5) {
		case 0:
			v.SetZero()
			return
		case 1:
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
			return
		}
		n := 1 + r.IntN(4)
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := range s.Len() {
			fillRandom(t, r, s.Index(i), path+"[]")
		}
		v.Set(s)
	case reflect.String:
		v.SetString(randomString(r))
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 0)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n := int64(r.Uint64()) >> r.IntN(64)
		if r.IntN(4) == 0 {
			n = int64(r.IntN(3)) - 1 // -1, 0, 1
		}
		v.SetInt(n) // a narrower type keeps the low bits
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n := r.Uint64() >> r.IntN(64)
		if r.IntN(4) == 0 {
			n = uint64(r.IntN(2))
		}
		v.SetUint(n) // a narrower type keeps the low bits
	default:
		t.Fatalf("%s: kind %s of %s: teach fillRandom", path, v.Kind(), v.Type())
	}
}

// randomString is one of: empty, a name of the contract, text with
// JSON's special characters, or random bytes.
func randomString(r *rand.Rand) string {
	switch r.IntN(6) {
	case 0:
		return ""
	case 1:
		names := []string{"refused", "middlebox", "server", "exact", "post_psh", "ECONNRESET", "tls", "RA", "ShADadR"}
		return names[r.IntN(len(names))]
	case 2:
		return "<a href=\"x\">&amp;</a>\\ \u2028\u2029 \x7f é 🙂 \t\n\r\b\f\x00\x1b[2J \\ufffd \\\xff"
	}
	b := make([]byte, r.IntN(40))
	for i := range b {
		b[i] = byte(r.UintN(256))
		if r.IntN(2) == 0 {
			b[i] = ' ' + byte(r.UintN(95))
		}
	}
	return string(b)
}

func randomAddrPort(r *rand.Rand) netip.AddrPort {
	var a netip.Addr
	switch r.IntN(6) {
	case 0: // invalid (unknown), with or without a port
	case 1, 2:
		a = netip.AddrFrom4([4]byte{byte(r.UintN(256)), byte(r.UintN(256)), byte(r.UintN(256)), byte(r.UintN(256))})
	case 3:
		a = netip.AddrFrom16(netip.AddrFrom4([4]byte{10, 0, 0, byte(r.UintN(256))}).As16()) // 4in6
	default:
		var x [16]byte
		for i := range x {
			x[i] = byte(r.UintN(256))
		}
		a = netip.AddrFrom16(x)
		if r.IntN(4) == 0 {
			a = a.WithZone("eth" + string(rune('0'+r.IntN(10))))
		}
	}
	return netip.AddrPortFrom(a, uint16(r.UintN(65536)))
}

// TestSpill_roundTrip: a finding spilled comes back equal in every field
// (those JSON leaves out included), for the fixtures and for random
// findings.
func TestSpill_roundTrip(t *testing.T) {
	fs := testFindings()
	fs = append(fs, scanFinding(7), browserCloses(3)[0])
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		fs = append(fs, randomFinding(t, r))
	}
	var b []byte
	for i := range fs {
		b = appendSpill(b[:0], &fs[i])
		var got heuristics.Finding
		if err := readSpill(string(b), &got); err != nil {
			t.Fatalf("finding %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, fs[i]) {
			t.Fatalf("finding %d: spilled and read back:\ngot  %+v\nwant %+v", i, got, fs[i])
		}
		// A record cut short is refused, never read as another finding.
		if err := readSpill(string(b[:len(b)-1]), &got); err == nil {
			t.Fatalf("finding %d: a record cut by a byte was read without error", i)
		}
	}
}

// FuzzSpill: any bytes read as a record give a finding or an error,
// never a panic.
func FuzzSpill(f *testing.F) {
	for _, x := range testFindings() {
		f.Add(appendSpill(nil, &x))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got heuristics.Finding
		if readSpill(string(b), &got) == nil {
			// What decodes encodes back to a record that decodes the same.
			var again heuristics.Finding
			if err := readSpill(string(appendSpill(nil, &got)), &again); err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("re-encoded record: %v\ngot  %+v\nwant %+v", err, again, got)
			}
		}
	})
}

// TestDrawer_order: text and markdown drawn at Close on several cores
// (drawer) print exactly what one core prints, cards in order, for more
// findings than the drawer holds ahead, spilled or not.
func TestDrawer_order(t *testing.T) {
	fs := benchFindings(5*cardsAhead + 7) // each on its own server: every one a card
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	defer func(n int) { spillAfter = n }(spillAfter)
	for _, format := range []string{"text", "markdown"} {
		for _, spill := range []int{1 << 30, 50} {
			spillAfter = spill
			runtime.GOMAXPROCS(1)
			one := render(t, format, Options{Width: 100}, fs, testSummary())
			runtime.GOMAXPROCS(4)
			four := render(t, format, Options{Width: 100}, fs, testSummary())
			if one != four {
				t.Errorf("%s (spill after %d): drawn on 4 cores differs from 1 core", format, spill)
			}
			last := map[string]string{"text": "#%d ", "markdown": "### %d. "}[format]
			if !strings.Contains(one, fmt.Sprintf(last, len(fs))) {
				t.Errorf("%s: the last card (%d) is missing", format, len(fs))
			}
		}
	}
}
