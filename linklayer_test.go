package main

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestRefused_routerMAC (issue 13 class 5): a lone RST/ACK to a SYN with
// the initial TTL, from an address with nothing else in the capture. The
// lab's refused_lone_firewall capture is that: router r1, the client's
// gateway, rejects the SYN for the server 10.77.3.2. Alone, the capture
// only shows the address is outside the client's /24 (a medium TTL
// signal: low confidence). Here two other servers' conversations, copied
// from a real lab capture and readdressed, reach the client through the
// same gateway MAC: the link layer then shows that MAC is a router's, so
// the RST was made at the router - middlebox, medium (no baseline of the
// server: never high), with the MAC evidence. With the extra servers on
// other MACs, nothing changes from the lone verdict.
func TestRefused_routerMAC(t *testing.T) {
	lone, err := readLabCapture("pcaps/lab/refused_lone_firewall.client.pcap")
	if err != nil {
		t.Fatal(err)
	}
	donor, err := readLabCapture("pcaps/lab/abortive_close_unread_data.client.pcap")
	if err != nil {
		t.Fatal(err)
	}
	if len(lone) != 2 || !lone[1].has(flagRST) {
		t.Fatalf("refused_lone_firewall: %d frames, want SYN and RST", len(lone))
	}
	clientMAC, gwMAC := [6]byte(lone[0].macs[6:12]), [6]byte(lone[1].macs[6:12])
	// build gives the lone capture after two conversations with the
	// servers at 10.77.3.20 and .21, without their RSTs, ending 1 s
	// before the SYN; their frames from the servers carry mac.
	build := func(mac [6]byte) []byte {
		var frames []labFrame
		shift := lone[0].time.Add(-time.Second).Sub(donor[len(donor)-1].time)
		for k, srv := range []string{"10.77.3.20", "10.77.3.21"} {
			a := netip.MustParseAddr(srv)
			for _, f := range donor {
				if f.has(flagRST) {
					continue
				}
				f.time = f.time.Add(shift - time.Duration(1-k)*100*time.Millisecond)
				if f.src == lone[0].src { // from the client
					f.dst = a
					copy(f.macs[:6], gwMAC[:])
					copy(f.macs[6:], clientMAC[:])
				} else {
					f.src = a
					copy(f.macs[:6], clientMAC[:])
					copy(f.macs[6:], mac[:])
				}
				frames = append(frames, f)
			}
		}
		return labPcap(append(frames, lone...))
	}

	for _, args := range [][]string{nil, {"--shards", "3"}} {
		f := judgeRaw(t, build(gwMAC), args...)
		if f.Cause != "refused" || f.Origin != "middlebox" || f.Confidence != "medium" {
			t.Errorf("%v: through the gateway's MAC: %s/%s %s, want refused/middlebox medium: %s", args, f.Cause, f.Origin, f.Confidence, f.Summary)
		}
		found := false
		for _, e := range f.Evidence {
			found = found || e.Signal == "mac_mismatch" && strings.Contains(e.Detail, "is a router's: the first packets of 2 other addresses") &&
				strings.Contains(e.Detail, "outside the client's subnet")
		}
		if !found {
			t.Errorf("%v: evidence lacks the router MAC: %+v", args, f.Evidence)
		}
	}

	other := [6]byte{0x02, 0, 0, 0, 0, 0x99}
	f := judgeRaw(t, build(other))
	if f.Cause != "refused" || f.Origin != "middlebox" || f.Confidence != "low" || f.hasSignal("mac_mismatch") {
		t.Errorf("servers on another MAC: %s/%s %s (mac evidence %v), want the lone verdict refused/middlebox low without it",
			f.Cause, f.Origin, f.Confidence, f.hasSignal("mac_mismatch"))
	}
}
