package heuristics

import (
	"fmt"

	"github.com/rstscope/rstscope/capture"
	"github.com/rstscope/rstscope/flows"
)

// ruleIgnored: the RST's seq is outside the receiver's window (dropped,
// RFC 5961), or in the window but not exact with a challenge ACK seen.
// Only when none of the event's RSTs was exact: one exact RST resets.
func ruleIgnored(ev *flows.Event, c *ctx) []claim {
	check := flows.SeqUnknown
	for _, r := range c.rsts {
		switch r.SeqCheck {
		case flows.SeqExact:
			return nil
		case flows.SeqInWindow:
			check = flows.SeqInWindow
		case flows.SeqOutOfWindow:
			if check == flows.SeqUnknown {
				check = flows.SeqOutOfWindow
			}
		}
	}
	a := &ev.After
	cont := ""
	var went []flows.LadderEntry
	for _, p := range c.receiverAfter {
		if !p.Flags.Has(capture.SYN) { // a new SYN starts another connection
			went = append(went, p)
		}
	}
	if n := len(went); n > 0 && a.RSTsBack == 0 {
		cont = fmt.Sprintf("; the %s went on sending (%d packets, frame %d first)", c.receiverName, n, went[0].Frame)
	}
	switch check {
	case flows.SeqOutOfWindow:
		s := medium
		var frames []uint64
		if cont != "" {
			s = strong
			frames = append(frames, went[0].Frame)
		}
		return []claim{causeOf(CauseIgnoredRST, SignalOutOfWindow, s, fmt.Sprintf("RST seq %d is outside the %s's receive window: its stack drops it (RFC 5961)%s",
			uint32(c.rst.Seq), c.receiverName, cont), append([]uint64{c.rst.Frame}, frames...)...)}
	case flows.SeqInWindow:
		if a.ChallengeACK {
			return []claim{causeOf(CauseIgnoredRST, SignalChallengeACK, strong, fmt.Sprintf("RST seq %d is in the %s's window but not exact; the %s answered with a challenge ACK (frame %d) and dropped it (RFC 5961)",
				uint32(c.rst.Seq), c.receiverName, c.receiverName, a.ChallengeACKFrame), c.rst.Frame, a.ChallengeACKFrame)}
		}
		return []claim{causeOf(CauseIgnoredRST, SignalInWindow, weak, fmt.Sprintf("RST seq %d is in the %s's window but not exact and no challenge ACK was seen: an RFC 5961 stack drops it, an older one accepts it%s",
			uint32(c.rst.Seq), c.receiverName, cont), c.rst.Frame)}
	}
	return nil
}
