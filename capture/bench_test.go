package capture

import (
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// BenchmarkDecode decodes one TCP frame per link type (and per tunnel) over
// and over. The gopacket_* cases decode the same frames with a
// DecodingLayerParser over preallocated layers, the alternative Decode was
// measured against.
func BenchmarkDecode(b *testing.B) {
	frames := map[string]decodeCase{}
	for _, c := range decodeCases(b) {
		frames[c.name] = c
	}
	for _, bc := range []struct{ name, frame string }{
		{"ethernet", "ethernet_ipv4"},                 // a SYN's five options
		{"ethernet_data", "ethernet_ipv4_timestamps"}, // after the handshake: NOP, NOP, timestamps
		{"ethernet_vlan_ipv6", "dot1q_ipv6"},
		{"ethernet_mpls", "mpls_ipv4"},
		{"sll", "sll_ipv4"},
		{"sll2", "sll2_ipv4"},
		{"raw", "raw_ipv6"},
		{"null", "null_ipv4"},
		{"chdlc", "chdlc_ipv4"},
		{"nflog", "nflog_ipv4"},
		{"gre", "gre_ipv4_key_seq"},
		{"erspan", "erspan_type2"},
		{"vxlan", "vxlan"},
		{"geneve", "geneve_options"},
		{"ipv6_extension_headers", "ipv6_extension_headers"},
		{"gtpu", "gtpu_ipv4"},
		{"l2tpv2", "l2tpv2_ppp_ipv4"},
		{"pflog", "pflog_openbsd_ipv6"},
		{"five_tunnels", "five_tunnels_deep"},
	} {
		c, ok := frames[bc.frame]
		if !ok {
			b.Fatalf("no test frame %q", bc.frame)
		}
		b.Run(bc.name, func(b *testing.B) {
			d := NewDecoder()
			var p Packet
			b.ReportAllocs()
			b.SetBytes(int64(len(c.frame)))
			for b.Loop() {
				if err := d.Decode(c.linkType, c.frame, &p); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
		})
	}

	// The gopacket alternative, for comparison.
	for _, bc := range []struct {
		name, frame string
		first       gopacket.LayerType
	}{
		{"gopacket_ethernet", "ethernet_ipv4", layers.LayerTypeEthernet},
		{"gopacket_ethernet_vlan_ipv6", "dot1q_ipv6", layers.LayerTypeEthernet},
		{"gopacket_sll2", "sll2_ipv4", layers.LayerTypeLinuxSLL2},
	} {
		c := frames[bc.frame]
		b.Run(bc.name, func(b *testing.B) {
			var (
				eth   layers.Ethernet
				dot1q layers.Dot1Q
				sll2  layers.LinuxSLL2
				ip4   layers.IPv4
				ip6   layers.IPv6
				tcp   layers.TCP
				pl    gopacket.Payload
			)
			parser := gopacket.NewDecodingLayerParser(bc.first, &eth, &dot1q, &sll2, &ip4, &ip6, &tcp, &pl)
			parser.IgnoreUnsupported = true
			decoded := make([]gopacket.LayerType, 0, 8)
			b.ReportAllocs()
			b.SetBytes(int64(len(c.frame)))
			for b.Loop() {
				if err := parser.DecodeLayers(c.frame, &decoded); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
		})
	}
}
