package flows

import "time"

// Per-direction and per-host statistics, updated packet by packet in fixed
// space.

// maxSmallStep is the largest forward IP ID step counted as "small"
// (a counter shared with a little other traffic).
const maxSmallStep = 1000

// Add records one TTL sample.
func (s *TTLStats) Add(ttl uint8) {
	// Fast path, the usual case: the sample is the mode, which holds the
	// largest count already and keeps it; Min and Max cannot move. The
	// mode's slot is remembered (checked: a TTLStats built by hand has
	// none). Small enough to be inlined (the rest is add): it runs twice
	// a packet.
	if ttl == s.Mode && s.modeAt&modeKnown != 0 { // (Count > 0 then)
		s.Counts[s.modeAt&3]++
		s.Count++
		return
	}
	s.add(ttl)
}

// add is Add's slow path.
func (s *TTLStats) add(ttl uint8) {
	if s.Count > 0 && ttl == s.Mode {
		for i := range s.Vals {
			if s.Counts[i] > 0 && s.Vals[i] == ttl {
				s.Counts[i]++
				s.Count++
				s.modeAt = uint8(i) | modeKnown
				return
			}
		}
	}
	if s.Count == 0 || ttl < s.Min {
		s.Min = ttl
	}
	if s.Count == 0 || ttl > s.Max {
		s.Max = ttl
	}
	s.Count++
	j := -1 // the slot counted, if any
	for i := range s.Vals {
		if s.Counts[i] == 0 {
			s.Vals[i], s.Counts[i], j = ttl, 1, i
			break
		}
		if s.Vals[i] == ttl {
			s.Counts[i]++
			j = i
			break
		}
	}
	// The mode is the first slot of the highest count. When it was known
	// (its slot remembered), only slot j moved: it takes the mode if it
	// passes it (or ties it from an earlier slot). A host seen at several
	// TTLs (behind a load balancer, or a generator's hop distances) comes
	// here on most of its packets.
	if m := int(s.modeAt & 3); j != m && s.Count > 1 && s.modeAt&modeKnown != 0 {
		if j >= 0 && (s.Counts[j] > s.Counts[m] || s.Counts[j] == s.Counts[m] && j < m) {
			s.Mode, s.modeAt = s.Vals[j], uint8(j)|modeKnown
		}
		return
	}
	best := 0
	for i := 1; i < len(s.Counts); i++ {
		if s.Counts[i] > s.Counts[best] {
			best = i
		}
	}
	s.Mode, s.modeAt = s.Vals[best], uint8(best)|modeKnown
}

// modeKnown marks TTLStats.modeAt as Mode's slot: a TTLStats built by
// hand (or by the codec, before setModeAt) has none, and Add's fast path
// then leaves it to add, which finds the slot. One test a sample, where
// the slot's value and count were checked (about 5 instructions of the
// 14 a sample, twice a packet).
const modeKnown = 0x80

// setModeAt sets the slot Add remembers for Mode (see Add), from Vals and
// Counts: the codec does not store it.
func (s *TTLStats) setModeAt() {
	s.modeAt = 0
	for i := range s.Vals {
		if s.Counts[i] > 0 && s.Vals[i] == s.Mode {
			s.modeAt = uint8(i) | modeKnown
			return
		}
	}
}

// Add records one IP ID sample: the counters only; Model and Step are
// derived from them when the statistics leave the table (see settled).
func (s *IPIDStats) Add(id uint16) {
	if s.Samples > 0 {
		last := s.Last
		switch step := id - last; {
		case id == 0 && last == 0:
			s.Zero++
		case id == 0 || last == 0:
			// to or from zero: neither evidence of a counter nor against it
		case step <= maxSmallStep:
			s.Small++
			if s.stepVotes == 0 {
				s.stepCand, s.stepVotes = step, 1
			} else if s.stepCand == step {
				s.stepVotes++
			} else {
				s.stepVotes--
			}
		default:
			s.Large++
		}
	}
	s.Samples++
	s.Last = id
}

// settled gives s with Model and Step derived from its counters (Step is
// 0 unless the model is Incrementing). Add does not keep them: they were
// recomputed with every sample, twice a packet on the reader and a shard
// (a direction's and its sender's), and only an event's profiles (and a
// flow's at its end) read them.
func (s IPIDStats) settled() IPIDStats {
	s.Step = 0
	switch {
	case s.Samples < 3:
		s.Model = IPIDUnknown
	case s.Zero == s.Samples-1:
		s.Model = IPIDZero
	case s.Small > 0 && s.Large*4 <= s.Small:
		s.Model, s.Step = IPIDIncrementing, s.stepCand
	default:
		s.Model = IPIDRandom
	}
	return s
}

// Distance gives how far id lies ahead of the last sample (modulo 2^16,
// so a value just behind the last one gives a large distance).
func (s *IPIDStats) Distance(id uint16) uint16 { return id - s.Last }

// IPIDModel is how a sender numbers its IPv4 packets.
type IPIDModel uint8

// IP ID models. Zero (IPIDUnknown) means fewer than 3 samples or IPv6.
const (
	IPIDUnknown      IPIDModel = iota
	IPIDZero                   // all samples zero (DF set, e.g. Linux without a socket counter)
	IPIDIncrementing           // small positive steps (per-socket or global counter)
	IPIDRandom                 // no usable order
)

// String gives "unknown", "zero", "incrementing" or "random".
func (m IPIDModel) String() string {
	switch m {
	case IPIDZero:
		return "zero"
	case IPIDIncrementing:
		return "incrementing"
	case IPIDRandom:
		return "random"
	}
	return "unknown"
}

// TTLStats summarises the TTL (hop limit) of a direction's (or a host's)
// non-RST packets. The zero value means no samples.
type TTLStats struct {
	Count uint32 // samples
	Min   uint8
	Max   uint8
	Mode  uint8 // most frequent value (ties: the first seen)
	// Vals/Counts hold up to 4 distinct values with their counts, used to
	// compute Mode in fixed space. Values past the fourth distinct one only
	// move Min/Max and Count.
	Vals   [4]uint8
	modeAt uint8 // the slot of Mode in Vals | modeKnown, when it is there (see Add)
	Counts [4]uint32
}

// Stable reports whether every sample had the same TTL (and there were
// at least n samples).
func (s *TTLStats) Stable(n uint32) bool { return s.Count >= n && s.Min == s.Max }

// IPIDStats models the IPv4 IP ID series of a direction's (or a host's)
// non-RST packets, in arrival order.
//
// Each sample after the first is compared with the previous one: both zero
// counts in Zero; a forward step of 0..1000 (modulo 2^16, so 65535 -> 2 is
// a step of 3) between non-zero values counts in Small; any other step
// between non-zero values (backwards or far) counts in Large; a step from
// or to zero alone (e.g. a Linux SYN/ACK with ID 0 followed by the
// socket's counter) counts in none. Model: Unknown under 3 samples; Zero
// when every sample was 0; Incrementing when Small > 0 and Large <=
// Small/4; Random otherwise. Model and Step are set in the profiles of
// events and ended flows (and host snapshots); inside the table only the
// counters are kept up to date (see settled).
//
// Its fields are ordered by size, 28 bytes (a reader's host line holds
// an IPv4 host's address, TTL and IP ID statistics in 64, see hostLine).
type IPIDStats struct {
	Samples uint32
	// Counters of consecutive-pair steps that decide Model (see above).
	Zero, Small, Large uint32
	// Boyer-Moore majority vote over the Small steps, giving Step.
	stepVotes uint32
	stepCand  uint16
	Last      uint16 // last non-RST IP ID; valid iff Samples > 0
	Step      uint16 // typical (majority) step among the Small steps; valid iff Model == IPIDIncrementing
	Model     IPIDModel
}

// Profile is what one direction of a flow has shown. All fields are fixed
// size or strings copied once per flow.
//
// Unless a field says otherwise it counts every packet of the direction,
// RSTs included; "non-RST" fields ignore RST packets so that a forged RST
// cannot pollute the model it is compared with. Sequence, ack and window
// state is never updated from RSTs either.
type Profile struct {
	Packets       uint64    // all packets sent in this direction (RSTs included)
	Bytes         uint64    // TCP payload bytes of non-RST packets (wire length, retransmissions included)
	DataPackets   uint64    // non-RST packets carrying payload (retransmissions included)
	First, Last   time.Time // times of the first and last packet (any kind); zero iff Packets == 0
	LastData      time.Time // time of the last non-RST packet carrying payload
	LastDataFrame uint64    // frame of that packet (0 if none)

	TTL  TTLStats  // non-RST packets only
	IPID IPIDStats // non-RST IPv4 packets only

	// TCP options behaviour of non-RST packets.
	TSPackets uint64 // non-RST packets carrying the timestamps option
	LastTSVal uint32 // TSval of the last of them; valid iff TSPackets > 0
	HasWScale bool   // this side's SYN or SYN/ACK carried window scale
	WScale    uint8  // its shift count; valid iff HasWScale
	MSS       uint16 // MSS option of this side's SYN or SYN/ACK, 0 if none

	// Sequence tracking.
	ISN      Seq       // seq of this side's SYN or SYN/ACK; valid iff SYNSeen
	SYNSeen  bool      // this direction sent a SYN (SYN or SYN/ACK)
	SYNFrame uint64    // frame of the first such SYN
	SYNTime  time.Time // time of the first such SYN
	// NextSeq is the highest seq+len sent, where len counts the payload
	// (wire length) plus one for SYN and one for FIN: the sender's SND.NXT
	// as far as the capture shows. Valid iff SeqValid.
	NextSeq  Seq
	SeqValid bool
	// LastAck is the ack field of the last non-RST packet with ACK set:
	// the sender's RCV.NXT as last announced. Valid iff AckValid.
	LastAck  Seq
	AckValid bool
	// Window is the last advertised receive window of a non-RST packet, in
	// bytes: shifted by WScale when both SYNs carried window scale (never
	// on SYNs), raw otherwise. Valid iff a non-RST packet was seen
	// (TTL.Count > 0).
	Window uint32
	// Retransmissions counts non-RST data packets whose seq+len did not go
	// beyond NextSeq (data already sent: retransmission or keep-alive probe).
	Retransmissions uint32
	ZeroWindows     uint32 // non-RST, non-SYN packets advertising a zero window

	// FIN (the first one this direction sent).
	FINSeen  bool
	FINFrame uint64
	FINTime  time.Time
	FINSeq   Seq // sequence number the FIN occupies (seq + payload length)

	// RSTs counts RSTs sent in this direction (all of them, as they arrive).
	RSTs uint32
	// CutPayloads counts the non-RST data packets (of DataPackets) whose
	// captured payload is shorter than their TCP length: the capture's
	// snaplen cut them, and what they carried past the cut (a request, a
	// response's framing, a TLS alert) could not be read. Saturates at
	// 2^32-1.
	CutPayloads uint32

	// L2 source address of this direction's first non-RST packet (Ethernet
	// captures only: valid iff HasMAC).
	HasMAC     bool
	MAC        [6]byte
	MACChanged bool // a later non-RST packet had a different source MAC

	// FirstPayload classifies this direction's first non-RST packet with
	// payload (PayloadNone until there is one).
	FirstPayload PayloadKind
	// Request is parsed from the first payload: for the client the HTTP
	// request or TLS ClientHello; for the server only Kind, Frame, Time and,
	// for HTTP, Status (a TLS ServerHello fills TLSVersion below instead).
	// A ClientHello longer than its first segment (even one of a single
	// byte) or split over several TLS records is completed from the
	// following in-order segments (up to 16 KiB of handshake), so SNI may
	// appear a packet later than Kind.
	// When the first payload was opaque and a later segment of the
	// direction starts with a ClientHello (STARTTLS), Request describes
	// that ClientHello instead (Frame/Time are the ClientHello's).
	Request Request
	// LastRequest is the latest HTTP request of a keep-alive connection
	// when it is not the first (nil otherwise): a later segment of the
	// direction that starts with a request line, parsed like Request. It
	// is never changed once set (a later request replaces the pointer).
	LastRequest *Request
	// TLSRecords has bit (type-20) set for each record type 20..23 whose
	// header was seen at a record boundary in this direction.
	TLSRecords uint8
	// TLSVersion is, for the server, the version its ServerHello selected
	// (supported_versions, else legacy_version); for the client the
	// ClientHello's legacy_version. 0 when unknown.
	TLSVersion uint16
	CCSSeen    bool // a ChangeCipherSpec record was sent by this direction
	// Requests counts the HTTP requests the direction started, the first
	// included (saturating; beside CCSSeen to fill the padding).
	Requests uint16
	// Alert is the last alert this direction sent (a plaintext or
	// post-CCS alert replaces an earlier one, except that a later warning
	// never replaces a fatal alert; a TLS 1.3 candidate is only recorded
	// when no other alert was seen). Valid iff AlertSeen.
	Alert     TLSAlertInfo
	AlertSeen bool
	// TLSBroken is set when record tracking lost sync (a gap, reordering,
	// snaplen cut inside a header, or bytes that are not a record header):
	// later records of this direction are not seen.
	TLSBroken bool
}

// HostProfile is what one IP address has shown across all flows (non-RST
// packets): so that a lone RST can still be compared with the host's other
// traffic.
//
// What every packet of the host reads and writes (HasMAC, TTL, IPID) comes
// first, within 64 bytes: the table's profiles are 64-byte aligned
// (hostIndex), so that a packet touches one cache line of its sender's.
type HostProfile struct {
	Known  bool      // the host is in the table (false when unknown or the host table was full)
	HasMAC bool      // MAC is valid
	TTL    TTLStats  // non-RST packets sent by the host, all flows
	IPID   IPIDStats // non-RST IPv4 packets sent by the host, all flows, in arrival order
	// TTLFlows counts the flows in which the host sent a non-RST packet:
	// the flows its TTL samples come from (a flow where it only sent RSTs,
	// or only received, adds to Flows but not here). A baseline steady
	// "across N flows" counts these.
	TTLFlows uint32
	// MAC is the link-layer source of the host's first non-RST packet
	// (Ethernet-like captures only; valid iff HasMAC).
	MAC   [6]byte
	Flows uint32 // flows this host took part in
}

// settled gives h as an event shows it: IPID's Model and Step set.
func (h *HostProfile) settled() HostProfile {
	c := *h
	c.IPID = c.IPID.settled()
	return c
}

// End is where the direction's data ends in sequence space: the seq its
// FIN occupies once it sent one (bytes after a FIN are not data), else
// NextSeq. Valid iff SeqValid.
func (p *Profile) End() Seq {
	if p.FINSeen {
		return p.FINSeq
	}
	return p.NextSeq
}
