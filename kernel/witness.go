package kernel

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/rstscope/rstscope/flows"
	"github.com/rstscope/rstscope/heuristics"
)

// Witness gives the engine the kernel's account of each RST event
// (heuristics.Witness): pass it to Engine.Judge. It only reads its Index.
type Witness struct {
	x *Index
}

// NewWitness testifies from x (events read live or from --kernel-events).
func NewWitness(x *Index) *Witness { return &Witness{x: x} }

// Testify joins the event's first RST with the kernel's events:
//   - tcp_send_reset: this host's TCP stack sent it (kernel_reason, the
//     claimed sender is genuine), with the reason;
//   - none, where Index.Absent holds: this host put it on the wire but its
//     TCP stack did not (kernel_absent: a local firewall or raw socket,
//     not the claimed endpoint's TCP stack);
//   - tcp_receive_reset: it reset a socket here (kernel_accepted);
//   - kfree_skb: the stack dropped it (kernel_dropped: an ignored RST).
//
// The reason's cause (ReasonCauses) goes with the claim: the engine weighs
// it in its combine step, the packets choosing between the variants the
// reason allows; a drop proves ignored_rst.
func (w *Witness) Testify(ev *flows.Event) heuristics.Testimony {
	var t heuristics.Testimony
	if ev.Count == 0 {
		return t
	}
	r := &ev.RSTs[0]
	var sender, receiver netip.AddrPort
	switch r.Dir {
	case flows.FromClient:
		sender, receiver = ev.Flow.Client, ev.Flow.Server
	case flows.FromServer:
		sender, receiver = ev.Flow.Server, ev.Flow.Client
	default:
		return t
	}
	ms := w.x.Lookup(sender, receiver, r.Time)
	sent := false
	for _, m := range ms {
		var cl heuristics.WitnessClaim
		cl.Evidence.Frames = []uint64{r.Frame}
		switch m.Kind {
		case KindSendReset:
			sent = true
			cl.Attest = heuristics.AttestGenuine
			cl.Evidence.Signal = SignalReason
			cl.Evidence.Detail = fmt.Sprintf("this host's TCP stack sent it: %s, %s frame %d%s",
				orUnknown(m.Reason), when(m.Delta), r.Frame, causeNote(m.Reason, m.State))
			cl.Summary = fmt.Sprintf("this host's kernel sent it (%s)", orUnknown(m.Reason))
			cl.Cause, cl.Allowed = reasonCause(m.Reason, ev.Stage == flows.StagePostSYN)
			if rc, ok := CauseFor(m.Reason); ok {
				cl.Advice = rc.Advice
			}
		case KindReceiveReset:
			cl.Evidence.Signal = SignalAccepted
			cl.Evidence.Detail = fmt.Sprintf("it reset a socket of this host (%s frame %d)", when(m.Delta), r.Frame)
		case KindDropped:
			cl.Evidence.Signal = SignalDropped
			cl.Evidence.Detail = fmt.Sprintf("this host's TCP stack dropped it: %s, %s frame %d",
				m.Reason, when(m.Delta), r.Frame)
			cl.Summary = fmt.Sprintf("this host's TCP stack dropped it (%s)", m.Reason)
			cl.Cause, cl.Allowed = reasonCause(m.Reason, false)
		}
		t.Claims = append(t.Claims, cl)
	}
	if !sent && w.x.Absent(sender, receiver, r.Time) {
		t.Claims = append(t.Claims, heuristics.WitnessClaim{
			Attest: heuristics.AttestForged,
			Evidence: heuristics.Evidence{Signal: SignalAbsent, Frames: []uint64{r.Frame},
				Detail: fmt.Sprintf("this host sent frame %d but its TCP stack did not (no tcp_send_reset): a local firewall's REJECT or a raw socket", r.Frame)},
			Summary:      "this host's TCP stack never sent it (a firewall or raw socket on this host did)",
			Advice:       "this host's own firewall (iptables/nftables REJECT with tcp-reset) or a raw-socket tool on it made the RST: check its rules and tools",
			AdviceForAny: true,
		})
	}
	if k := pick(ms); k != nil {
		t.Kernel = &heuristics.KernelInfo{Event: k.Kind.Tracepoint(), Reason: k.Reason, State: k.State,
			NetNS: k.NetNS, DeltaUS: k.Delta.Microseconds()}
	}
	return t
}

// pick chooses the event the finding's kernel object shows: the send, else
// the drop, else the receive.
func pick(ms []Match) *Match {
	for _, k := range []Kind{KindSendReset, KindDropped, KindReceiveReset} {
		for i := range ms {
			if ms[i].Kind == k {
				return &ms[i]
			}
		}
	}
	return nil
}

func orUnknown(reason string) string {
	if reason == "" {
		return "no reason before Linux 6.10"
	}
	return reason
}

func when(d time.Duration) string {
	us := d.Microseconds()
	if us < 0 {
		return fmt.Sprintf("%d us before", -us)
	}
	return fmt.Sprintf("%d us after", us)
}

// causeNote gives the state and what the reason means, from the table.
func causeNote(reason, state string) string {
	s := ""
	if state != "" {
		s = " (" + state + ")"
	}
	if r, ok := CauseFor(reason); ok {
		s += ": " + r.Note
	}
	return s
}

// reasonCause is the cause a reason fixes and the causes it allows packet
// context to choose instead (ReasonCauses); syn says the RST answers a SYN.
func reasonCause(reason string, syn bool) (heuristics.Cause, []heuristics.Cause) {
	r, ok := CauseFor(reason)
	if !ok {
		return "", nil
	}
	cause := r.Cause
	if syn && r.SYN != "" {
		return heuristics.Cause(r.SYN), nil
	}
	var allowed []heuristics.Cause
	for _, a := range r.Alternatives {
		allowed = append(allowed, heuristics.Cause(a))
	}
	return heuristics.Cause(cause), allowed
}
