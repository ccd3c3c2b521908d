package capture

import (
	"encoding/binary"
	"net/netip"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// scribble sets every field of p to a non-zero value, so that a field the
// fast path forgets to write shows as a difference from the general path.
func scribble(p *Packet) {
	var fill func(v reflect.Value)
	fill = func(v reflect.Value) {
		switch v.Interface().(type) {
		case netip.AddrPort:
			v.Set(reflect.ValueOf(netip.MustParseAddrPort("[2001:db8::99]:9")))
			return
		case time.Time:
			v.Set(reflect.ValueOf(time.Unix(1e9, 7).UTC()))
			return
		}
		switch v.Kind() {
		case reflect.Bool:
			v.SetBool(true)
		case reflect.Int, reflect.Int64:
			v.SetInt(-3)
		case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			v.SetUint(0x5a)
		case reflect.Slice:
			v.Set(reflect.ValueOf([]byte("stale")))
		case reflect.Array:
			for i := range v.Len() {
				fill(v.Index(i))
			}
		case reflect.Struct:
			for i := range v.NumField() {
				fill(v.Field(i))
			}
		default:
			panic("scribble: field of kind " + v.Kind().String())
		}
	}
	fill(reflect.ValueOf(p).Elem())
}

// sameAlias reports whether a and b are the same slice of the same array.
func sameAlias(a, b []byte) bool {
	if len(a) != len(b) || cap(a) != cap(b) {
		return false
	}
	return len(a) == 0 || &a[0] == &b[0]
}

// checkFastPath decodes an Ethernet frame with the fast path and with the
// general path and reports a difference. It returns whether the fast path
// took the frame.
func checkFastPath(t *testing.T, name string, frame []byte) bool {
	t.Helper()
	var fast, before Packet
	scribble(&fast)
	before = fast
	d := NewDecoder()
	took := d.fastEthernet(frame, &fast)
	general := Packet{Index: before.Index, Input: before.Input, Time: before.Time, CapLen: before.CapLen, WireLen: before.WireLen}
	g := NewDecoder()
	err := g.decode(linkEthernet, frame, &general)
	if !took {
		if !reflect.DeepEqual(fast, before) {
			t.Errorf("%s: the fast path declined the frame but changed the packet", name)
		}
		if d.hash != 0 {
			t.Errorf("%s: the fast path declined the frame but set hash %#x", name, d.hash)
		}
		return false
	}
	if err != nil {
		t.Errorf("%s: the fast path decoded a frame the general path rejects: %v", name, err)
		return true
	}
	if !sameAlias(fast.Payload, general.Payload) || !sameAlias(fast.Frame, general.Frame) {
		t.Errorf("%s: Payload or Frame do not alias the same bytes as the general path's", name)
	}
	checkPacket(t, name, fast, general)
	if d.src != g.src || d.dst != g.dst {
		t.Errorf("%s: decoder addresses got %v > %v, want %v > %v", name, d.src, d.dst, g.src, g.dst)
	}
	if d.hash != 0 && d.hash != FlowHash(fast.Src, fast.Dst) {
		t.Errorf("%s: hash %#x, want FlowHash(%v, %v) = %#x", name, d.hash, fast.Src, fast.Dst, FlowHash(fast.Src, fast.Dst))
	}
	return true
}

// variants gives frame as it is and as captures distort it: cut by a
// snaplen at every length, with an IP length of 0 (segmentation offload),
// shorter than the frame (padding) or below the header, with IPv4-mapped
// IPv6 addresses, with a bogus TCP data offset.
func variants(frame []byte) map[string][]byte {
	out := map[string][]byte{"as_is": frame}
	for n := 0; n < len(frame); n++ {
		out["cut_"+itoa(n)] = frame[:n]
	}
	edit := func(name string, fn func(b []byte)) {
		b := append([]byte(nil), frame...)
		fn(b)
		out[name] = b
	}
	if len(frame) < 14+40 {
		return out
	}
	ip := 14
	switch binary.BigEndian.Uint16(frame[12:]) {
	case etherIPv4:
		ihl := int(frame[ip]&0x0f) * 4
		edit("ip_len_0", func(b []byte) { binary.BigEndian.PutUint16(b[ip+2:], 0) })
		edit("ip_len_short", func(b []byte) { binary.BigEndian.PutUint16(b[ip+2:], uint16(ihl+20)) })
		edit("ip_len_below_header", func(b []byte) { binary.BigEndian.PutUint16(b[ip+2:], 19) })
		edit("ip_fragment", func(b []byte) { b[ip+6] |= 0x20 })
		edit("ip_df", func(b []byte) { b[ip+6] ^= 0x40 })
		edit("ihl_4", func(b []byte) { b[ip] = 0x44 })
		edit("ihl_15", func(b []byte) { b[ip] = 0x4f })
		edit("version_6", func(b []byte) { b[ip] = 0x65 })
		edit("udp", func(b []byte) { b[ip+9] = protoUDP })
		if tcp := ip + ihl; len(frame) >= tcp+20 {
			for _, off := range []byte{0, 4, 6, 15} {
				edit("tcp_offset_"+itoa(int(off)), func(b []byte) { b[tcp+12] = off<<4 | b[tcp+12]&0x0f })
			}
			edit("tcp_ns_reserved", func(b []byte) { b[tcp+12] |= 0x0f })
		}
	case etherIPv6:
		edit("ip_len_0", func(b []byte) { binary.BigEndian.PutUint16(b[ip+4:], 0) })
		edit("ip_len_short", func(b []byte) { binary.BigEndian.PutUint16(b[ip+4:], 20) })
		edit("ip_len_below_tcp", func(b []byte) { binary.BigEndian.PutUint16(b[ip+4:], 19) })
		mapped := func(b []byte) { copy(b, make([]byte, 10)); b[10], b[11] = 0xff, 0xff }
		edit("src_mapped", func(b []byte) { mapped(b[ip+8:]) })
		edit("both_mapped", func(b []byte) { mapped(b[ip+8:]); mapped(b[ip+24:]) })
		edit("flow_label", func(b []byte) { b[ip+1] |= 0x0f; b[ip+3] = 0x42 })
		if len(frame) >= ip+40+20 {
			edit("tcp_offset_0", func(b []byte) { b[ip+40+12] &= 0x0f })
		}
	}
	return out
}

// TestDecode_fastPath: the fast path decodes exactly what the general path
// decodes, every field (and aliases the same bytes), on every Ethernet test
// frame and every Ethernet corpus frame, with the distortions of variants;
// on frames it declines it changes nothing. Its flow hash is FlowHash.
func TestDecode_fastPath(t *testing.T) {
	var took, declined int
	count := func(ok bool) {
		if ok {
			took++
		} else {
			declined++
		}
	}
	for _, c := range decodeCases(t) {
		if c.linkType != linkEthernet {
			continue
		}
		for v, frame := range variants(c.frame) {
			count(checkFastPath(t, c.name+"/"+v, frame))
		}
	}
	paths, _ := filepath.Glob(filepath.Join(corpusDir, "*", "*.pcap*"))
	more, _ := filepath.Glob(filepath.Join(corpusDir, "*", "*", "*.pcap*"))
	paths = append(paths, more...)
	var corpus int
	for _, path := range paths {
		for i, f := range corpusFrames(t, path) {
			if f.linkType != linkEthernet {
				continue
			}
			corpus++
			name := path + ": frame " + itoa(i+1)
			if i < 50 { // the distortions on a sample of each file
				for v, frame := range variants(f.data) {
					count(checkFastPath(t, name+"/"+v, frame))
				}
				continue
			}
			count(checkFastPath(t, name, f.data))
		}
	}
	t.Logf("%d corpus frames; fast path took %d frames, declined %d", corpus, took, declined)
	if corpus < 10000 || took < corpus/2 || declined < 1000 {
		t.Errorf("got %d corpus frames, %d taken, %d declined: want the whole corpus, most taken, many declined", corpus, took, declined)
	}
}

// FuzzDecodeFastPath: on any Ethernet frame the fast path either declines
// it untouched or decodes exactly what the general path decodes.
func FuzzDecodeFastPath(f *testing.F) {
	// Seeds: the Ethernet frames of TestDecode and their distortions.
	for _, c := range decodeCases(f) {
		if c.linkType == linkEthernet {
			for _, v := range variants(c.frame) {
				f.Add(v)
			}
		}
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		checkFastPath(t, "frame", frame[:len(frame):len(frame)])
	})
}
