package capture

import (
	"path/filepath"
	"testing"
)

// TestStats_hidden: reasons are counted in order of first appearance, at
// most maxHidden of them, the rest in HiddenOther; OpenFiles sums inputs.
func TestStats_hidden(t *testing.T) {
	var st Stats
	for i := range maxHidden + 3 {
		st.addHidden(HiddenReason{HiddenEtherType, uint32(0x9000 + i)})
	}
	st.addHidden(HiddenReason{HiddenUDPPort, 2152})
	st.addHidden(HiddenReason{HiddenEtherType, 0x9000})
	if len(st.Hidden) != maxHidden || st.Hidden[0].Count != 2 || st.HiddenOther != 4 {
		t.Errorf("got %d reasons, first counted %d, %d other; want %d, 2, 4", len(st.Hidden), st.Hidden[0].Count, st.HiddenOther, maxHidden)
	}
	for _, c := range []struct {
		r    HiddenReason
		want string
	}{
		{HiddenReason{HiddenUDPPort, 2152}, "UDP/2152 (GTP-U)"},
		{HiddenReason{HiddenUDPPort, 4500}, "UDP/4500 (IPsec NAT-T)"},
		{HiddenReason{HiddenEtherType, 0x88e5}, "EtherType 0x88e5 (MACsec)"},
		{HiddenReason{HiddenIPProto, 50}, "IP protocol 50 (ESP)"},
		{HiddenReason{HiddenLinkType, 147}, "link type 147 (USER0)"},
		{HiddenReason{HiddenLinkType, 9999}, "link type 9999"},
		{HiddenReason{}, "none"},
	} {
		if got := c.r.String(); got != c.want {
			t.Errorf("%+v: got %q, want %q", c.r, got, c.want)
		}
	}

	// Two inputs with one hidden GTP-U frame each: the merge counts 2.
	path := filepath.Join("testdata", "tunnels", "zeek_gtp3_false_gtp.pcap")
	s, err := OpenFiles([]string{path, path}, FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var p Packet
	for s.Next(&p) == nil {
	}
	if h := s.Stats().Hidden; len(h) != 1 || h[0].Count != 2 || h[0].Reason.String() != "UDP/2152 (GTP-U)" {
		t.Errorf("merged Hidden got %+v, want 2 UDP/2152 (GTP-U)", h)
	}
}
