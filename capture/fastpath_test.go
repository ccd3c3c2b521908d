package capture

import (
	"encoding/binary"
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
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
				if v.Type().Field(i).IsExported() { // not Packet's padding
					fill(v.Field(i))
				}
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

// fastLinkTypes are the link types the fast path reads.
var fastLinkTypes = []int{linkEthernet, linkSLL, linkSLL2}

// checkFastPath decodes a frame with the fast path and with the general
// path and reports a difference. It returns whether the fast path took the
// frame.
func checkFastPath(t *testing.T, name string, linkType int, frame []byte) bool {
	t.Helper()
	var fast, before Packet
	scribble(&fast)
	before = fast
	d := NewDecoder()
	took := d.fast(linkType, frame, &fast)
	general := Packet{Index: before.Index, Input: before.Input, Time: before.Time, CapLen: before.CapLen, WireLen: before.WireLen}
	g := NewDecoder()
	err := g.decode(linkType, frame, &general)
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
	if d.hash != 0 && d.hash != FlowHash(fast.Src, fast.Dst) {
		t.Errorf("%s: hash %#x, want FlowHash(%v, %v) = %#x", name, d.hash, fast.Src, fast.Dst, FlowHash(fast.Src, fast.Dst))
	}
	// The route hash comes with the flow hash (RouteHash may be 0, rarely).
	if d.hash != 0 && d.route != RouteHash(fast.Src, fast.Dst) || d.hash == 0 && d.route != 0 {
		t.Errorf("%s: route %#x (hash %#x), want RouteHash(%v, %v) = %#x", name, d.route, d.hash, fast.Src, fast.Dst, RouteHash(fast.Src, fast.Dst))
	}
	return true
}

// variants gives frame (of linkType) as it is and as captures distort it:
// cut by a snaplen anywhere in the headers, with an IP length of 0 (segmentation
// offload), shorter than the frame (padding) or below the header, with
// IPv4-mapped IPv6 addresses, with a bogus TCP data offset, with a link
// header the fast path must decline.
func variants(linkType int, frame []byte) map[string][]byte {
	out := map[string][]byte{"as_is": frame}
	for n := 0; n < len(frame); n++ {
		if n < 160 || n == len(frame)-1 { // the headers, and a payload cut
			out["cut_"+itoa(n)] = frame[:n]
		}
	}
	edit := func(name string, fn func(b []byte)) {
		b := append([]byte(nil), frame...)
		fn(b)
		out[name] = b
	}
	var ip, et int // offsets of the IP header and of its ethertype
	switch linkType {
	case linkEthernet:
		ip, et = 14, 12
		if len(frame) >= 18 && binary.BigEndian.Uint16(frame[12:]) == etherVLAN {
			ip, et = 18, 16
		}
		edit("llc_length", func(b []byte) { binary.BigEndian.PutUint16(b[12:], uint16(len(b)-14)) })
	case linkSLL:
		ip, et = 16, 14
		edit("hatype_netlink", func(b []byte) { binary.BigEndian.PutUint16(b[2:], 824) })
		edit("hatype_other", func(b []byte) { binary.BigEndian.PutUint16(b[2:], 772) })
		edit("addr_len_4", func(b []byte) { binary.BigEndian.PutUint16(b[4:], 4) })
	case linkSLL2:
		ip, et = 20, 0
		edit("hatype_netlink", func(b []byte) { binary.BigEndian.PutUint16(b[8:], 824) })
		edit("addr_len_4", func(b []byte) { b[11] = 4 })
	default:
		return out
	}
	if len(frame) < ip+40 {
		return out
	}
	edit("ethertype_vlan", func(b []byte) { binary.BigEndian.PutUint16(b[et:], etherVLAN) })
	edit("ethertype_arp", func(b []byte) { binary.BigEndian.PutUint16(b[et:], etherARP) })
	switch binary.BigEndian.Uint16(frame[et:]) {
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
// decodes, every field (and aliases the same bytes), on every test frame
// and every corpus frame of its link types, with the distortions of
// variants; on frames it declines it changes nothing. Its flow hash is
// FlowHash.
func TestDecode_fastPath(t *testing.T) {
	took, declined := map[int]int{}, 0
	check := func(name string, lt int, frame []byte) {
		if checkFastPath(t, name, lt, frame) {
			took[lt]++
		} else {
			declined++
		}
	}
	for _, c := range decodeCases(t) {
		for v, frame := range variants(c.linkType, c.frame) {
			check(c.name+"/"+v, c.linkType, frame)
		}
	}
	paths, _ := filepath.Glob(filepath.Join(corpusDir, "*", "*.pcap*"))
	more, _ := filepath.Glob(filepath.Join(corpusDir, "*", "*", "*.pcap*"))
	paths = append(paths, more...)
	var corpus int
	for _, path := range paths {
		for i, f := range corpusFrames(t, path) {
			if !slices.Contains(fastLinkTypes, f.linkType) {
				continue
			}
			corpus++
			name := path + ": frame " + itoa(i+1)
			if i < 50 { // the distortions on a sample of each file
				for v, frame := range variants(f.linkType, f.data) {
					check(name+"/"+v, f.linkType, frame)
				}
				continue
			}
			check(name, f.linkType, f.data)
		}
	}
	t.Logf("%d corpus frames; fast path took %v frames by link type, declined %d", corpus, took, declined)
	if corpus < 10000 || declined < 1000 {
		t.Errorf("got %d corpus frames, %d declined: want the whole corpus, many declined", corpus, declined)
	}
	for _, lt := range fastLinkTypes {
		if took[lt] < 100 {
			t.Errorf("link type %d: fast path took %d frames, want many", lt, took[lt])
		}
	}
}

// FuzzDecodeFastPath: on any frame of its link types the fast path either
// declines it untouched or decodes exactly what the general path decodes.
func FuzzDecodeFastPath(f *testing.F) {
	// Seeds: the test frames of its link types and their distortions.
	for _, c := range decodeCases(f) {
		if slices.Contains(fastLinkTypes, c.linkType) {
			for _, v := range variants(c.linkType, c.frame) {
				f.Add(c.linkType, v)
			}
		}
	}
	f.Fuzz(func(t *testing.T, linkType int, frame []byte) {
		checkFastPath(t, "frame", linkType, frame[:len(frame):len(frame)])
	})
}
