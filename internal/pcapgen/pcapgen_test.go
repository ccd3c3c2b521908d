package pcapgen

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// frame is one decoded record.
type frame struct {
	n     int // 1-based
	ci    gopacket.CaptureInfo
	pkt   gopacket.Packet
	ip4   *layers.IPv4
	ip6   *layers.IPv6
	tcp   *layers.TCP
	udp   *layers.UDP
	eth   *layers.Ethernet
	dot1q *layers.Dot1Q
}

func (f frame) ttl() uint8 {
	if f.ip4 != nil {
		return f.ip4.TTL
	}
	return f.ip6.HopLimit
}

func (f frame) src() netip.Addr {
	if f.ip4 != nil {
		a, _ := netip.AddrFromSlice(f.ip4.SrcIP)
		return a.Unmap()
	}
	a, _ := netip.AddrFromSlice(f.ip6.SrcIP)
	return a
}

// decodeAll reads a pcap with pcapgo, decodes every frame with gopacket
// layers and fails on decode errors and (when the frame is whole) on any
// bad IPv4/TCP/UDP checksum.
func decodeAll(t *testing.T, data []byte) (layers.LinkType, []frame) {
	t.Helper()
	r, err := pcapgo.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("pcapgo.NewReader: %v", err)
	}
	var out []frame
	var lastTS time.Time
	for n := 1; ; n++ {
		buf, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("frame %d: read: %v", n, err)
		}
		if ci.Timestamp.Before(lastTS) {
			t.Errorf("frame %d: time %v before previous %v", n, ci.Timestamp, lastTS)
		}
		lastTS = ci.Timestamp
		if ci.CaptureLength > int(r.Snaplen()) {
			t.Errorf("frame %d: caplen %d over snaplen %d", n, ci.CaptureLength, r.Snaplen())
		}
		p := gopacket.NewPacket(buf, r.LinkType(), gopacket.Default)
		f := frame{n: n, ci: ci, pkt: p}
		if el := p.ErrorLayer(); el != nil && ci.CaptureLength == ci.Length {
			t.Errorf("frame %d: decode error: %v", n, el.Error())
		}
		if l, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
			f.ip4 = l
		}
		if l, ok := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6); ok {
			f.ip6 = l
		}
		if l, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok {
			f.tcp = l
		}
		if l, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok {
			f.udp = l
		}
		if l, ok := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet); ok {
			f.eth = l
		}
		if l, ok := p.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q); ok {
			f.dot1q = l
		}
		if ci.CaptureLength == ci.Length {
			verifyChecksums(t, f)
		}
		out = append(out, f)
	}
	return r.LinkType(), out
}

func verifyChecksums(t *testing.T, f frame) {
	t.Helper()
	var nl gopacket.NetworkLayer
	if f.ip4 != nil {
		nl = f.ip4
		if _, res := f.ip4.VerifyChecksum(); !res.Valid {
			t.Errorf("frame %d: IPv4 checksum %#04x, want %#04x", f.n, res.Actual, res.Correct)
		}
	} else if f.ip6 != nil {
		nl = f.ip6
	}
	if f.tcp != nil {
		if err := f.tcp.SetNetworkLayerForChecksum(nl); err != nil {
			t.Fatalf("frame %d: %v", f.n, err)
		}
		err, res := f.tcp.VerifyChecksum()
		if err != nil {
			t.Fatalf("frame %d: tcp checksum: %v", f.n, err)
		}
		if !res.Valid {
			t.Errorf("frame %d: TCP checksum %#04x, want %#04x", f.n, res.Actual, res.Correct)
		}
	}
	if f.udp != nil {
		if err := f.udp.SetNetworkLayerForChecksum(nl); err != nil {
			t.Fatalf("frame %d: %v", f.n, err)
		}
		if err, res := f.udp.VerifyChecksum(); err != nil || !res.Valid {
			t.Errorf("frame %d: UDP checksum %#04x, want %#04x (%v)", f.n, res.Actual, res.Correct, err)
		}
	}
}

func rsts(fs []frame) []frame {
	var out []frame
	for _, f := range fs {
		if f.tcp != nil && f.tcp.RST {
			out = append(out, f)
		}
	}
	return out
}

func writeScenario(t *testing.T, name string, o Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	st, err := WriteScenario(&buf, name, o)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if st.FileBytes != int64(buf.Len()) {
		t.Errorf("%s: Stats.FileBytes %d, file has %d", name, st.FileBytes, buf.Len())
	}
	return buf.Bytes()
}

func TestScenarios_decodeAndCountRSTs(t *testing.T) {
	for _, s := range Scenarios() {
		t.Run(s.Name, func(t *testing.T) {
			data := writeScenario(t, s.Name, Options{Seed: 7})
			_, fs := decodeAll(t, data)
			if got := len(rsts(fs)); got != s.RSTs {
				t.Errorf("RST segments: got %d, want %d", got, s.RSTs)
			}
			for _, f := range fs {
				if f.tcp == nil {
					t.Errorf("frame %d: not TCP", f.n)
				}
			}
		})
	}
}

func TestScenarios_namesUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range Scenarios() {
		if seen[s.Name] {
			t.Errorf("scenario %s listed twice", s.Name)
		}
		seen[s.Name] = true
		if s.Cause == "" || s.Origin == "" || s.Doc == "" || s.RSTs == 0 {
			t.Errorf("scenario %s: cause %q origin %q rsts %d doc %q: want all set", s.Name, s.Cause, s.Origin, s.RSTs, s.Doc)
		}
	}
	if _, ok := Lookup("no_such"); ok {
		t.Errorf("Lookup(no_such) found a scenario")
	}
	if _, err := WriteScenario(io.Discard, "no_such", Options{}); err == nil {
		t.Errorf("WriteScenario(no_such): got nil error")
	}
}

func scenarioFrames(t *testing.T, name string) []frame {
	t.Helper()
	_, fs := decodeAll(t, writeScenario(t, name, Options{Seed: 3}))
	return fs
}

func TestGFWTripleRST(t *testing.T) {
	fs := scenarioFrames(t, "gfw_triple_rst")
	rs := rsts(fs)
	if len(rs) != 3 {
		t.Fatalf("RSTs: got %d, want 3", len(rs))
	}
	var server []frame
	for _, f := range fs {
		if f.src() == netip.MustParseAddr("203.0.113.10") && !f.tcp.RST {
			server = append(server, f)
		}
	}
	base := rs[0].tcp.Seq
	for i, want := range []uint32{0, 1460, 4380} {
		r := rs[i]
		if got := r.tcp.Seq - base; got != want {
			t.Errorf("frame %d: seq offset got %d, want %d", r.n, got, want)
		}
		if r.ttl() != 61 {
			t.Errorf("frame %d: TTL got %d, want 61", r.n, r.ttl())
		}
		if r.ip4.Flags&layers.IPv4DontFragment != 0 {
			t.Errorf("frame %d: DF set, want clear", r.n)
		}
	}
	// The genuine response arrives after the RSTs, at TTL 52, at the seq of the first RST.
	last := server[len(server)-1]
	if last.n < rs[2].n || last.ttl() != 52 || len(last.tcp.Payload) == 0 || last.tcp.Seq != base {
		t.Errorf("server response: frame %d TTL %d len %d seq %d, want after frame %d, TTL 52, data, seq %d",
			last.n, last.ttl(), len(last.tcp.Payload), last.tcp.Seq, rs[2].n, base)
	}
	if !bytes.Contains(fs[3].tcp.Payload, []byte("GET /search?q=falun HTTP/1.1")) {
		t.Errorf("frame 4 payload %q: want the GET", fs[3].tcp.Payload)
	}
}

func TestIptablesRejectTLS(t *testing.T) {
	fs := scenarioFrames(t, "iptables_reject_tls")
	rs := rsts(fs)
	if len(rs) != 1 {
		t.Fatalf("RSTs: got %d, want 1", len(rs))
	}
	r, ch := rs[0], fs[len(fs)-2]
	if r.ip4.Id != 0 || r.ip4.Flags&layers.IPv4DontFragment == 0 || r.ttl() != 63 || r.tcp.Window != 0 || len(r.tcp.Options) != 0 || r.tcp.ACK {
		t.Errorf("frame %d: id %d flags %v TTL %d win %d opts %d ack %v, want id 0, DF, TTL 63, win 0, no options, no ACK",
			r.n, r.ip4.Id, r.ip4.Flags, r.ttl(), r.tcp.Window, len(r.tcp.Options), r.tcp.ACK)
	}
	if r.tcp.Seq != ch.tcp.Ack {
		t.Errorf("frame %d: seq %d, want the ClientHello's ack %d", r.n, r.tcp.Seq, ch.tcp.Ack)
	}
	if !bytes.Contains(ch.tcp.Payload, []byte("blocked.example.com")) || ch.tcp.Payload[0] != 0x16 {
		t.Errorf("frame %d: want a ClientHello with SNI blocked.example.com", ch.n)
	}
	// gopacket's TLS layer parses the record.
	if tl, ok := ch.pkt.Layer(layers.LayerTypeTLS).(*layers.TLS); ok {
		if len(tl.Handshake) == 0 {
			t.Errorf("frame %d: TLS layer has no handshake record", ch.n)
		}
	}
}

func TestRefused(t *testing.T) {
	for _, name := range []string{"refused", "ipv6_refused"} {
		fs := scenarioFrames(t, name)
		if len(fs) != 2 {
			t.Fatalf("%s: frames got %d, want 2", name, len(fs))
		}
		syn, r := fs[0], fs[1]
		if !r.tcp.RST || !r.tcp.ACK || r.tcp.Seq != 0 || r.tcp.Ack != syn.tcp.Seq+1 || r.tcp.Window != 0 || r.ttl() != 52 {
			t.Errorf("%s frame 2: RST %v ACK %v seq %d ack %d win %d TTL %d, want RA seq 0 ack %d win 0 TTL 52",
				name, r.tcp.RST, r.tcp.ACK, r.tcp.Seq, r.tcp.Ack, r.tcp.Window, r.ttl(), syn.tcp.Seq+1)
		}
		if name == "refused" && (r.ip4.Id != 0 || r.ip4.Flags&layers.IPv4DontFragment == 0) {
			t.Errorf("frame 2: IP ID %d flags %v, want 0 and DF", r.ip4.Id, r.ip4.Flags)
		}
		if name == "ipv6_refused" && r.ip6 == nil {
			t.Errorf("frame 2: not IPv6")
		}
	}
}

func TestStaleKeepalive_genuineRST(t *testing.T) {
	fs := scenarioFrames(t, "stale_keepalive")
	rs := rsts(fs)
	if len(rs) != 1 {
		t.Fatalf("RSTs: got %d, want 1", len(rs))
	}
	r := rs[0]
	var prevServer, fin, get frame
	for _, f := range fs[:r.n-1] {
		if f.src() == r.src() {
			prevServer = f
			if f.tcp.FIN {
				fin = f
			}
		} else if len(f.tcp.Payload) > 0 {
			get = f
		}
	}
	if fin.tcp == nil {
		t.Fatalf("no server FIN before the RST")
	}
	if r.ip4.Id != prevServer.ip4.Id+1 || r.ttl() != 52 {
		t.Errorf("frame %d: IP ID %d TTL %d, want %d (server's next) and 52", r.n, r.ip4.Id, r.ttl(), prevServer.ip4.Id+1)
	}
	if r.tcp.ACK || r.tcp.Seq != get.tcp.Ack || r.tcp.Seq != fin.tcp.Seq+1 {
		t.Errorf("frame %d: ACK %v seq %d, want plain RST seq %d (GET's ack, FIN+1)", r.n, r.tcp.ACK, r.tcp.Seq, get.tcp.Ack)
	}
	gap := get.ci.Timestamp.Sub(fin.ci.Timestamp)
	if gap != 800*time.Millisecond {
		t.Errorf("FIN to new GET: got %v, want 800ms", gap)
	}
	idle := fin.ci.Timestamp.Sub(fs[fin.n-3].ci.Timestamp)
	if idle < 5*time.Second {
		t.Errorf("idle before FIN: got %v, want >= 5s", idle)
	}
}

func TestInWindowChallengeACK(t *testing.T) {
	fs := scenarioFrames(t, "rst_in_window_challenge_ack")
	r := rsts(fs)[0]
	c := fs[r.n] // next frame
	if c.tcp.RST || !c.tcp.ACK || len(c.tcp.Payload) != 0 || c.tcp.Ack != r.tcp.Seq-20000 {
		t.Errorf("frame %d: want a challenge ACK with ack %d, got flags RST=%v ACK=%v len %d ack %d",
			c.n, r.tcp.Seq-20000, c.tcp.RST, c.tcp.ACK, len(c.tcp.Payload), c.tcp.Ack)
	}
	fsO := scenarioFrames(t, "rst_out_of_window")
	ro := rsts(fsO)[0]
	if ro.tcp.Seq-fsO[ro.n].tcp.Seq != 5000000 && ro.tcp.Seq-fsO[ro.n-2].tcp.Ack != 5000000 {
		t.Errorf("out of window RST seq %d: want 5,000,000 past the client's ack", ro.tcp.Seq)
	}
	fins := 0
	for _, f := range fsO {
		if f.tcp.FIN {
			fins++
		}
	}
	if fins != 2 {
		t.Errorf("rst_out_of_window FINs: got %d, want 2 (exchange completes)", fins)
	}
}

func TestIdleScenarios_gaps(t *testing.T) {
	fs := scenarioFrames(t, "nlb_idle_timeout")
	r := rsts(fs)[0]
	data := fs[r.n-2]
	gap := data.ci.Timestamp.Sub(fs[r.n-3].ci.Timestamp)
	if gap != 350*time.Second+500*time.Millisecond {
		t.Errorf("nlb gap: got %v, want 350.5s", gap)
	}
	if r.ttl() != 62 || r.tcp.Seq != data.tcp.Ack || len(r.tcp.Options) != 0 {
		t.Errorf("nlb RST frame %d: TTL %d seq %d opts %d, want 62, %d, none", r.n, r.ttl(), r.tcp.Seq, len(r.tcp.Options), data.tcp.Ack)
	}
	fs = scenarioFrames(t, "azure_idle_reset")
	rs := rsts(fs)
	if len(rs) != 2 || rs[0].src() == rs[1].src() {
		t.Fatalf("azure: want 2 RSTs from both ends, got %d", len(rs))
	}
	last := fs[rs[0].n-2]
	if d := rs[0].ci.Timestamp.Sub(last.ci.Timestamp); d != 240*time.Second {
		t.Errorf("azure: RST %v after the last packet, want 240s", d)
	}
	if rs[0].tcp.Seq != last.tcp.Ack {
		t.Errorf("azure: server-claimed RST seq %d, want exact %d", rs[0].tcp.Seq, last.tcp.Ack)
	}
}

func TestTLSAlerts(t *testing.T) {
	fs := scenarioFrames(t, "tls_plaintext_alert")
	a := fs[len(fs)-2]
	if want := []byte{0x15, 3, 3, 0, 2, 2, 40}; !bytes.Equal(a.tcp.Payload, want) {
		t.Errorf("alert frame %d: payload % x, want % x", a.n, a.tcp.Payload, want)
	}
	fs = scenarioFrames(t, "tls13_encrypted_alert")
	e := fs[len(fs)-2]
	if len(e.tcp.Payload) != 24 || !bytes.Equal(e.tcp.Payload[:5], []byte{0x17, 3, 3, 0, 19}) {
		t.Errorf("encrypted alert frame %d: payload % x, want 24 bytes starting 17 03 03 00 13", e.n, e.tcp.Payload)
	}
	fs = scenarioFrames(t, "tls_alert_split")
	p1, p2 := fs[len(fs)-3], fs[len(fs)-2]
	got := append(append([]byte{}, p1.tcp.Payload...), p2.tcp.Payload...)
	if want := []byte{0x15, 3, 3, 0, 2, 2, 48}; !bytes.Equal(got, want) || len(p1.tcp.Payload) != 3 {
		t.Errorf("split alert frames %d+%d: % x (first %d bytes), want % x split 3+4", p1.n, p2.n, got, len(p1.tcp.Payload), want)
	}
	if p2.tcp.Seq != p1.tcp.Seq+3 {
		t.Errorf("split alert: second seq %d, want %d", p2.tcp.Seq, p1.tcp.Seq+3)
	}
}

func TestRetransmissionsAndTupleReuse(t *testing.T) {
	fs := scenarioFrames(t, "retransmissions")
	var seqs []uint32
	var ids []uint16
	for _, f := range fs {
		if len(f.tcp.Payload) > 0 {
			seqs = append(seqs, f.tcp.Seq)
			ids = append(ids, f.ip4.Id)
		}
	}
	if len(seqs) != 4 {
		t.Fatalf("data segments: got %d, want 4 (1 + 3 retransmissions)", len(seqs))
	}
	for i := 1; i < 4; i++ {
		if seqs[i] != seqs[0] || ids[i] != ids[i-1]+1 {
			t.Errorf("retransmission %d: seq %d id %d, want seq %d id %d", i, seqs[i], ids[i], seqs[0], ids[i-1]+1)
		}
	}
	fs = scenarioFrames(t, "tuple_reuse")
	var syns []frame
	for _, f := range fs {
		if f.tcp.SYN && !f.tcp.ACK {
			syns = append(syns, f)
		}
	}
	if len(syns) != 2 || syns[0].tcp.SrcPort != syns[1].tcp.SrcPort || syns[1].tcp.Seq <= syns[0].tcp.Seq {
		t.Fatalf("tuple_reuse: want 2 SYNs on one tuple with a higher second ISN, got %d", len(syns))
	}
	rs := rsts(fs)
	if rs[0].n > syns[1].n || rs[1].n < syns[1].n {
		t.Errorf("tuple_reuse: RSTs at frames %d and %d, want one before and one after the second SYN (frame %d)", rs[0].n, rs[1].n, syns[1].n)
	}
}

func TestClientAbort_dataAfterRST(t *testing.T) {
	fs := scenarioFrames(t, "client_abort")
	r := rsts(fs)[0]
	after := 0
	for _, f := range fs[r.n:] {
		if len(f.tcp.Payload) > 0 && f.src() != r.src() {
			after++
		}
	}
	if after != 3 || r.src() != netip.MustParseAddr("10.0.0.2") {
		t.Errorf("client_abort: %d server segments after the RST from %v, want 3 after a client RST", after, r.src())
	}
}

func TestLinkTypes(t *testing.T) {
	cases := []struct {
		name  string
		o     Options
		link  layers.LinkType
		scen  string
		first gopacket.LayerType
	}{
		{"ethernet", Options{}, layers.LinkTypeEthernet, "stale_keepalive", layers.LayerTypeEthernet},
		{"vlan", Options{VLAN: 42}, layers.LinkTypeEthernet, "stale_keepalive", layers.LayerTypeEthernet},
		{"sll", Options{Link: LinkSLL}, layers.LinkTypeLinuxSLL, "stale_keepalive", layers.LayerTypeLinuxSLL},
		{"sll2", Options{Link: LinkSLL2}, layers.LinkTypeLinuxSLL2, "stale_keepalive", layers.LayerTypeLinuxSLL2},
		{"raw", Options{Link: LinkRaw}, layers.LinkTypeRaw, "stale_keepalive", layers.LayerTypeIPv4},
		{"raw_v6", Options{Link: LinkRaw}, layers.LinkTypeRaw, "ipv6_refused", layers.LayerTypeIPv6},
		{"sll2_v6", Options{Link: LinkSLL2}, layers.LinkTypeLinuxSLL2, "ipv6_refused", layers.LayerTypeLinuxSLL2},
		{"ethernet_padded", Options{Pad: true}, layers.LinkTypeEthernet, "refused", layers.LayerTypeEthernet},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lt, fs := decodeAll(t, writeScenario(t, tc.scen, tc.o))
			if lt != tc.link {
				t.Fatalf("link type: got %v, want %v", lt, tc.link)
			}
			for _, f := range fs {
				if got := f.pkt.Layers()[0].LayerType(); got != tc.first {
					t.Errorf("frame %d: first layer %v, want %v", f.n, got, tc.first)
				}
				if f.tcp == nil {
					t.Errorf("frame %d: no TCP layer", f.n)
				}
				if tc.o.VLAN != 0 && (f.dot1q == nil || f.dot1q.VLANIdentifier != tc.o.VLAN) {
					t.Errorf("frame %d: want 802.1Q VLAN %d", f.n, tc.o.VLAN)
				}
				if tc.o.Pad {
					if f.ci.Length < 60 {
						t.Errorf("frame %d: length %d, want padded to 60", f.n, f.ci.Length)
					}
					if f.tcp.RST && len(f.tcp.Payload) != 0 {
						t.Errorf("frame %d: padded RST has payload %d bytes, want 0", f.n, len(f.tcp.Payload))
					}
				}
			}
		})
	}
}

func TestSnaplen_cutsButKeepsLength(t *testing.T) {
	full := writeScenario(t, "client_abort", Options{Seed: 1})
	cut := writeScenario(t, "client_abort", Options{Seed: 1, Snaplen: 128})
	_, ff := decodeAll(t, full)
	_, fc := decodeAll(t, cut)
	if len(ff) != len(fc) {
		t.Fatalf("frames: got %d cut, %d full", len(fc), len(ff))
	}
	for i := range ff {
		if fc[i].ci.Length != ff[i].ci.Length || fc[i].ci.CaptureLength != min(128, ff[i].ci.CaptureLength) {
			t.Errorf("frame %d: cut caplen/len %d/%d, full %d/%d", i+1, fc[i].ci.CaptureLength, fc[i].ci.Length, ff[i].ci.CaptureLength, ff[i].ci.Length)
		}
		if fc[i].tcp == nil || fc[i].tcp.Seq != ff[i].tcp.Seq {
			t.Errorf("frame %d: cut frame lost its TCP header", i+1)
		}
	}
}

// TestFillChecksum checks the prefix-sum checksum of filler against a
// direct sum for odd offsets, odd heads and wrap-around.
func TestFillChecksum(t *testing.T) {
	filler()
	for _, tc := range []struct {
		off   uint32
		n, k0 int
	}{{0, 1460, 0}, {1, 1460, 0}, {7, 1459, 3}, {fillLen - 5, 1000, 1}, {fillLen - 4, 9, 2}, {123456, 65000, 0}} {
		payload := make([]byte, tc.k0)
		payload = appendFill(payload, tc.off, tc.n)
		want := fold(csum(payload, 0))
		got := fold(fillSum(tc.off, tc.n, tc.k0))
		if got != want {
			t.Errorf("fillSum(%d, %d, %d): got %#04x, want %#04x", tc.off, tc.n, tc.k0, got, want)
		}
	}
}

func TestDeterministic(t *testing.T) {
	a := writeScenario(t, "gfw_triple_rst", Options{Seed: 9})
	b := writeScenario(t, "gfw_triple_rst", Options{Seed: 9})
	c := writeScenario(t, "gfw_triple_rst", Options{Seed: 10})
	if !bytes.Equal(a, b) {
		t.Errorf("same seed: files differ")
	}
	if bytes.Equal(a, c) {
		t.Errorf("different seeds: files equal")
	}
}

func TestInject_doesNotMoveState(t *testing.T) {
	g := New(io.Discard, Options{})
	c := g.Conn(netip.MustParseAddrPort("10.0.0.1:1000"), netip.MustParseAddrPort("10.0.0.2:80"),
		Host{ISN: 1000, IPIDStart: 50}, Host{ISN: 5000, IPIDStart: 70})
	c.Handshake(Time(0))
	nxt, id := c.Next(FromServer), c.NextIPID(FromServer)
	c.Inject(FromServer, Time(time.Second), SeqDelta(100))
	if c.Next(FromServer) != nxt || c.NextIPID(FromServer) != id {
		t.Errorf("after Inject: next %d id %d, want %d %d", c.Next(FromServer), c.NextIPID(FromServer), nxt, id)
	}
	c.Send(FromServer, make([]byte, 3000), Time(2*time.Second))
	if got, want := c.Next(FromServer), nxt+3000; got != want {
		t.Errorf("after Send(3000): next %d, want %d", got, want)
	}
	if got, want := c.NextIPID(FromServer), id+3; got != want {
		t.Errorf("after Send(3000) in 3 segments: next IP ID %d, want %d", got, want)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if st := g.Stats(); st.Packets != 7 || st.RSTs != 1 {
		t.Errorf("stats: %d packets %d RSTs, want 7 and 1", st.Packets, st.RSTs)
	}
}

func TestMixedFamilies_error(t *testing.T) {
	g := New(io.Discard, Options{})
	g.Conn(netip.MustParseAddrPort("10.0.0.1:1000"), netip.MustParseAddrPort("[2001:db8::1]:80"), Host{}, Host{})
	if err := g.Close(); err == nil {
		t.Errorf("mixed address families: got nil error")
	}
}

func TestMix_small(t *testing.T) {
	var buf bytes.Buffer
	g := New(&buf, Options{Seed: 5, Snaplen: 65535, Pad: true})
	const flows, packets = 3000, 120000
	st, err := Mix(g, MixOptions{Flows: flows, Packets: packets, Duration: 10 * time.Minute, ResetFraction: 0.05})
	if err == nil {
		err = g.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	total := g.Stats()
	if d := float64(total.Packets-packets) / packets; d < -0.05 || d > 0.05 {
		t.Errorf("packets: got %d, want %d ±5%%", total.Packets, packets)
	}
	if total.Flows < flows {
		t.Errorf("TCP flows: got %d, want >= %d", total.Flows, flows)
	}
	if len(st.ScenarioFlows) < len(Scenarios())/2 {
		t.Errorf("scenario kinds used: got %d (%v), want most of %d", len(st.ScenarioFlows), st.ScenarioFlows, len(Scenarios()))
	}
	if st.LongFlows == 0 {
		t.Errorf("long transfers: got 0")
	}
	wantRST := 0
	for name, n := range st.ScenarioFlows {
		s, _ := Lookup(name)
		wantRST += n * s.RSTs
	}
	_, fs := decodeAll(t, buf.Bytes())
	if got := len(rsts(fs)); got != wantRST || got != total.RSTs {
		t.Errorf("RSTs: decoded %d, stats %d, want %d from the scenarios", got, total.RSTs, wantRST)
	}
	var udp, arp, v6 int
	tuples := map[[2]netip.AddrPort]bool{}
	for _, f := range fs {
		switch {
		case f.udp != nil:
			udp++
		case f.pkt.Layer(layers.LayerTypeARP) != nil:
			arp++
		}
		if f.ip6 != nil {
			v6++
		}
		if f.tcp != nil && f.tcp.SYN && !f.tcp.ACK {
			k := [2]netip.AddrPort{netip.AddrPortFrom(f.src(), uint16(f.tcp.SrcPort))}
			tuples[k] = true
		}
	}
	if udp == 0 || arp == 0 || v6 == 0 {
		t.Errorf("noise: %d UDP, %d ARP, %d IPv6 frames, want some of each", udp, arp, v6)
	}
	if len(tuples) < flows*9/10 {
		t.Errorf("distinct client endpoints with a SYN: got %d, want about %d", len(tuples), flows)
	}
}

// TestTshark_countsRSTs cross-checks with tshark when it is installed: all
// scenarios in one file per link variant (an hour apart), RSTs counted per
// scenario by the client port, and no bad checksum or error-level expert
// info (the TLS 1.2 certificate is filler, which tshark warns about).
func TestTshark_countsRSTs(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed (make deps installs it)")
	}
	dir := t.TempDir()
	byPort := map[string]Scenario{}
	for _, s := range Scenarios() {
		byPort[strconv.Itoa(int(s.Client.Port()))] = s
	}
	if len(byPort) != len(Scenarios()) {
		t.Fatalf("scenario client ports are not unique")
	}
	for _, o := range []Options{{Pad: true}, {Link: LinkSLL2}, {Link: LinkRaw, Snaplen: 128}, {VLAN: 7, Snaplen: 128}} {
		var buf bytes.Buffer
		g := New(&buf, o)
		for i, s := range Scenarios() {
			s.Run(g, s.Endpoints(), Time(time.Duration(i)*time.Hour))
		}
		if err := g.Close(); err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("%s_%d", g.Options().Link, o.Snaplen)
		p := filepath.Join(dir, name+".pcap")
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(tshark, "-n", "-r", p, "-Y", "tcp.flags.reset==1", "-T", "fields", "-e", "tcp.srcport", "-e", "tcp.dstport").Output()
		if err != nil {
			t.Fatalf("tshark -r %s: %v", p, err)
		}
		got := map[string]int{}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			for _, port := range strings.Fields(line) {
				if s, ok := byPort[port]; ok {
					got[s.Name]++
				}
			}
		}
		for _, s := range Scenarios() {
			if got[s.Name] != s.RSTs {
				t.Errorf("%s: %s: tshark counts %d RSTs, want %d", name, s.Name, got[s.Name], s.RSTs)
			}
		}
		if o.Snaplen != 0 {
			continue
		}
		bad, err := exec.Command(tshark, "-n", "-r", p, "-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
			"-Y", "tcp.checksum.status==0 || ip.checksum.status==0 || udp.checksum.status==0 || _ws.expert.severity==error").Output()
		if err != nil {
			t.Fatalf("tshark checksum pass: %v", err)
		}
		if len(bad) > 0 {
			t.Errorf("%s: tshark flags frames:\n%s", name, bad)
		}
	}
}

func TestWriteAllocs(t *testing.T) {
	g := New(io.Discard, Options{Snaplen: 128})
	c := g.Conn(netip.MustParseAddrPort("10.0.0.1:1000"), netip.MustParseAddrPort("10.0.0.2:80"),
		Host{Timestamps: true}, Host{Timestamps: true})
	c.Handshake(Time(0))
	g.Flush()
	at := Time(time.Second)
	allocs := testing.AllocsPerRun(1000, func() {
		at = at.Add(time.Millisecond)
		c.Data(FromServer, nil, 1448, at)
		c.ACK(FromClient, at)
		g.Flush()
	})
	if allocs != 0 {
		t.Errorf("allocs per data+ACK written: got %v, want 0", allocs)
	}
}

func BenchmarkMix(b *testing.B) {
	const packets = 200000
	var n int
	for b.Loop() {
		g := New(io.Discard, Options{Snaplen: 128, Pad: true})
		if _, err := Mix(g, MixOptions{Flows: packets * 280 / 10200, Packets: packets}); err != nil {
			b.Fatal(err)
		}
		if err := g.Close(); err != nil {
			b.Fatal(err)
		}
		n += g.Stats().Packets
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "pkts/s")
}

func BenchmarkWriteSegment(b *testing.B) {
	for _, snap := range []int{128, 65535} {
		b.Run("snaplen="+strconv.Itoa(snap), func(b *testing.B) {
			g := New(io.Discard, Options{Snaplen: snap})
			c := g.Conn(netip.MustParseAddrPort("10.0.0.1:1000"), netip.MustParseAddrPort("10.0.0.2:80"),
				Host{Timestamps: true}, Host{Timestamps: true})
			c.Handshake(Time(0))
			at := Time(time.Second)
			b.ReportAllocs()
			b.SetBytes(1448 + 66)
			for b.Loop() {
				at = at.Add(time.Microsecond)
				c.Data(FromServer, nil, 1448, at)
				g.Flush()
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
		})
	}
}

func TestMix_deterministicPerSeed(t *testing.T) {
	gen := func(seed uint64, link Link) []byte {
		var buf bytes.Buffer
		g := New(&buf, Options{Seed: seed, Link: link, Snaplen: 128})
		if _, err := Mix(g, MixOptions{Flows: 300, Packets: 10000}); err != nil {
			t.Fatal(err)
		}
		if err := g.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	a, b, c := gen(1, LinkEthernet), gen(1, LinkEthernet), gen(2, LinkEthernet)
	if !bytes.Equal(a, b) {
		t.Errorf("same seed: mixes differ")
	}
	if bytes.Equal(a, c) {
		t.Errorf("different seeds: mixes equal")
	}
	lt, fs := decodeAll(t, gen(1, LinkRaw))
	if lt != layers.LinkTypeRaw {
		t.Errorf("link type: got %v, want raw", lt)
	}
	for _, f := range fs {
		if f.ip4 == nil && f.ip6 == nil {
			t.Errorf("raw mix frame %d: no IP layer (ARP must be skipped on raw links)", f.n)
			break
		}
	}
}
