package flows

import (
	"fmt"
	"strings"
	"testing"
)

// TestEvent_packets: the view lists the ladder before the RST, the
// event's RSTs (later ones marked After too) and the look-ahead, each
// frame once, RSTs that joined the event not repeated from After.
func TestEvent_packets(t *testing.T) {
	pk := ladder(t, lines(handshake, []string{
		"C>S PA seq=101 ack=301 len=10",
		"S>C R seq=301",
		"S>C R seq=1761",
		"C>S A seq=111 ack=301",
	})...)
	e := run(t, Options{}, pk).one(t)
	var got []string
	for _, p := range e.Packets() {
		got = append(got, fmt.Sprintf("%d:%s:rst=%v:after=%v", p.Frame, p.Flags, p.RST, p.After))
	}
	want := []string{
		"1:S:rst=false:after=false",
		"2:SA:rst=false:after=false",
		"3:A:rst=false:after=false",
		"4:PA:rst=false:after=false",
		"5:R:rst=true:after=false",
		"6:R:rst=true:after=true",
		"7:A:rst=false:after=true",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

// TestProfile_end: a direction's data ends at its FIN once it sent one.
func TestProfile_end(t *testing.T) {
	pk := ladder(t, lines(handshake, []string{
		"S>C PA seq=301 ack=101 len=50",
		"S>C FA seq=351 ack=101",
		"C>S A seq=101 ack=352",
		"C>S R seq=101",
	})...)
	e := run(t, Options{}, pk).one(t)
	s, c := e.Flow.Profile(FromServer), e.Flow.Profile(FromClient)
	if got := s.End(); got != 351 {
		t.Errorf("server End: got %d, want 351 (its FIN's seq)", got)
	}
	if got := c.End(); got != 101 {
		t.Errorf("client End: got %d, want 101 (its NextSeq)", got)
	}
}
