package heuristics

import (
	"slices"

	"github.com/rstscope/rstscope/flows"
)

// A Witness is a second account of an event from outside the capture: a
// capture of the same traffic taken at the other end of the path (package
// correlate, --peer), or the host kernel's own record of the resets it
// sent. Engine.Judge asks each witness before it decides and weighs the
// testimony with the rules' claims in its one combine step, so that the
// summary and advice, written after, agree with every claim.
type Witness interface {
	// Testify says what the witness knows about ev. It must not keep ev.
	Testify(ev *flows.Event) Testimony
}

// Testimony is what a witness says about one event.
type Testimony struct {
	// Claims, in the order the evidence lists them.
	Claims []WitnessClaim
	// Correlation and Kernel, when set, become the finding's
	// "correlation" and "kernel" objects as they are.
	Correlation *Correlation
	Kernel      *KernelInfo
}

// Attest is what a witness claim says about the RST's claimed sender.
type Attest uint8

// Attestations.
const (
	// AttestNone: context (lost packets, why nothing could be said). It is
	// listed after the capture's own evidence and weighs nothing.
	AttestNone Attest = iota
	// AttestGenuine: the claimed sender did send the RST (present_at_sender).
	// The origin is the claimed sender, at least medium confidence.
	AttestGenuine
	// AttestForged: the claimed sender never sent it (absent_at_sender).
	// The origin is a middlebox, high confidence; a cause that does not
	// survive a forged RST (the cause table) becomes middlebox_injected.
	AttestForged
)

// WitnessClaim is one claim of a witness.
type WitnessClaim struct {
	Attest   Attest
	Evidence Evidence
	// Summary is the clause the summary ends with when this claim decides
	// the origin, e.g. "server.pcap shows the RST never left the server".
	Summary string
	// Advice, when set on an AttestForged claim, is the advice of a
	// middlebox_injected verdict it decides; on a claim with a Cause, the
	// advice of a verdict whose cause is that Cause.
	Advice string
	// AdviceForAny makes an AttestForged claim's Advice the advice of the
	// verdict it decides whatever its cause: the witness knows where the
	// RST was made (the kernel: a local firewall or raw socket, not a
	// device on the path that the causes' own advice would point at).
	AdviceForAny bool
	// Cause, when set, is the cause the witness knows (the kernel's reset
	// reason, through its reason -> cause table): it decides the cause at
	// high confidence, unless the capture's own cause is one of Allowed
	// (packet context choosing between variants the witness allows), which
	// is then kept, also at high confidence. With Cause empty and Allowed
	// set, the capture's cause is confirmed when it is one of Allowed and
	// left alone otherwise. Cause claims weigh whatever Attest says.
	Cause   Cause
	Allowed []Cause
}

// decides says whether the claim weighs on the verdict (origin or cause).
func (cl *WitnessClaim) decides() bool {
	return cl.Attest > AttestNone || cl.Cause != "" || len(cl.Allowed) > 0
}

// proof is the witness claim that decides the origin, nil if none. A
// genuine claim wins over a forged one: a RST seen leaving its sender was
// sent, while one missing from a capture may have been missed.
func proof(ts []Testimony) *WitnessClaim {
	var best *WitnessClaim
	for i := range ts {
		for j := range ts[i].Claims {
			cl := &ts[i].Claims[j]
			if cl.Attest > AttestNone && (best == nil || cl.Attest < best.Attest) {
				best = cl
			}
		}
	}
	return best
}

// causeProof is the first witness claim that names a cause, nil if none.
func causeProof(ts []Testimony) *WitnessClaim {
	for i := range ts {
		for j := range ts[i].Claims {
			if cl := &ts[i].Claims[j]; cl.Cause != "" || len(cl.Allowed) > 0 {
				return cl
			}
		}
	}
	return nil
}

// weighWitnesses applies the witnesses' proof to the verdict of the
// capture's own claims (part of combine): first who sent the RST, then
// what a witness knows of its cause.
func weighWitnesses(c *ctx, v *verdict, ts []Testimony) {
	weighOrigin(c, v, ts)
	weighCause(v, ts)
}

// weighCause applies a witness's cause (the kernel's reset reason).
func weighCause(v *verdict, ts []Testimony) {
	p := causeProof(ts)
	if p == nil {
		return
	}
	if slices.Contains(p.Allowed, v.cause) || (p.Cause != "" && v.cause == p.Cause) {
		v.confidence = weighedConfidence(v)
		v.causeBy = p
		return
	}
	if p.Cause == "" {
		return // the witness allows other causes only: the packets' stands
	}
	was := v.cause
	rest := slices.DeleteFunc(slices.Clone(v.alts), func(a Cause) bool { return a == p.Cause || a == was })
	v.alts = nil
	if was != CauseUnknown {
		v.alts = append(v.alts, was)
	}
	v.alts = append(v.alts, rest...)
	v.cause = p.Cause
	v.confidence = weighedConfidence(v)
	v.recaused = true
	v.causeBy = p
	if v.proof == nil {
		v.proof = p
	}
}

// weighedConfidence is the confidence of a verdict whose cause a witness
// fixed: high, unless the origin rests on the capture's middlebox signals
// alone (a cause a witness knows does not make them surer).
func weighedConfidence(v *verdict) Confidence {
	if v.origin == OriginMiddlebox && (v.proof == nil || v.proof.Attest != AttestForged) {
		return max(v.confidence, Medium)
	}
	return High
}

// weighOrigin applies the proof of who sent the RST.
func weighOrigin(c *ctx, v *verdict, ts []Testimony) {
	p := proof(ts)
	if p == nil {
		return
	}
	switch p.Attest {
	case AttestGenuine:
		origin := OriginClient
		switch c.sender {
		case flows.FromServer:
			origin = OriginServer
		case flows.DirUnknown:
			return
		}
		if v.origin == OriginMiddlebox {
			// The capture's middlebox signals were wrong.
			v.overturned = true
			v.confidence = Medium
			if v.cause == CauseMiddleboxInjected {
				v.cause = CauseUnknown
				for _, a := range v.alts {
					if a != CauseMiddleboxInjected {
						v.cause = a
						break
					}
				}
				cause := v.cause
				v.alts = slices.DeleteFunc(v.alts, func(a Cause) bool { return a == cause || a == CauseMiddleboxInjected })
			}
		}
		v.origin = origin
		v.confidence = max(v.confidence, Medium)
	case AttestForged:
		v.overturned = v.origin != OriginMiddlebox
		v.origin = OriginMiddlebox
		v.confidence = High
		if r := rowOf(v.cause); r == nil || !r.survivesForgery {
			cause := v.cause
			rest := slices.DeleteFunc(v.alts, func(a Cause) bool { return a == cause || a == CauseMiddleboxInjected })
			v.alts = nil
			if cause != CauseUnknown {
				v.alts = append(v.alts, cause)
			}
			v.alts = append(v.alts, rest...)
			v.cause = CauseMiddleboxInjected
		}
	}
	v.proof = p
}

// witnessEvidence splits the testimony into the proof's evidence (listed
// first) and the rest (listed last), each in testimony order.
func witnessEvidence(ts []Testimony) (first, last []Evidence) {
	for _, t := range ts {
		for _, cl := range t.Claims {
			if !cl.decides() {
				last = append(last, cl.Evidence)
			} else {
				first = append(first, cl.Evidence)
			}
		}
	}
	return first, last
}
