package report

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"time"

	"github.com/rstscope/rstscope/heuristics"
)

// The spill file's record of a finding (store.spill): every field of
// heuristics.Finding, the ones JSON leaves out included, in a fixed
// order; integers as varints, strings and lists after their length
// (a list's length + 1, so that nil comes back nil), optional parts after
// a presence byte, instants as Unix seconds and nanoseconds (in UTC, the
// only zone findings hold). It keeps every value exact and costs a few
// microseconds a finding each way, where JSON cost about 40 (reflection
// both ways, and Unmarshal's allocations). TestSpill_roundTrip fills
// every field of a Finding by reflection, so that a field added to
// Finding and not coded here fails it.

// appendSpill appends f's record to b.
func appendSpill(b []byte, f *heuristics.Finding) []byte {
	e := spillEnc{b}
	e.int(int64(f.ID))
	e.str(string(f.Cause))
	e.str(string(f.Origin))
	e.uint(uint64(f.Confidence))
	e.str(f.Summary)

	fl := &f.Flow
	e.addrPort(fl.Client)
	e.addrPort(fl.Server)
	e.str(fl.RolesFrom)
	e.time(fl.Start.Time)
	e.uint(fl.ClientBytes)
	e.uint(fl.ServerBytes)
	e.uint(fl.ClientPackets)
	e.uint(fl.ServerPackets)
	e.str(fl.Tunnel)
	e.uint(uint64(fl.VLAN))
	e.str(fl.History)
	e.str(fl.ConnState)

	r := &f.RST
	e.time(r.Time.Time)
	e.uint(r.Packet)
	e.int(int64(r.Input))
	e.uint(uint64(r.From))
	e.int(int64(r.Count))
	e.str(r.Flags)
	e.uint(uint64(r.Seq))
	e.uint(uint64(r.Ack))
	e.uint(uint64(r.Window))
	e.uint(uint64(r.TTL))
	e.optUint16(r.IPID)
	e.str(r.SeqCheck)
	e.frames(r.Frames)
	e.int(int64(r.PayloadLen))
	e.str(r.Payload)

	e.str(f.Stage)
	e.str(f.Errno)
	e.len(len(f.Alternatives), f.Alternatives == nil)
	for _, c := range f.Alternatives {
		e.str(string(c))
	}
	e.str(f.Advice)
	e.int(int64(f.Gap.Duration))
	e.int(int64(f.GapSeconds.Duration))
	e.str(f.KnownTimeout)

	if e.present(f.Request != nil) {
		q := f.Request
		e.str(q.Kind)
		e.str(q.Method)
		e.str(q.Path)
		e.str(q.Host)
		e.str(q.SNI)
		e.str(q.ALPN)
		e.uint(q.Frame)
		e.int(int64(q.Earlier))
	}
	if e.present(f.TLSAlert != nil) {
		a := f.TLSAlert
		e.uint(uint64(a.From))
		e.uint(a.Packet)
		e.bool(a.Encrypted)
		e.str(a.Level)
		e.str(a.Description)
		if e.present(a.Code != nil) {
			e.uint(uint64(*a.Code))
		}
	}
	e.len(len(f.Evidence), f.Evidence == nil)
	for i := range f.Evidence {
		ev := &f.Evidence[i]
		e.str(string(ev.Signal))
		e.str(ev.Detail)
		e.frames(ev.Frames)
	}
	e.len(len(f.Packets), f.Packets == nil)
	for i := range f.Packets {
		p := &f.Packets[i]
		e.uint(p.Packet)
		e.int(int64(p.TimeOffset.Duration))
		e.uint(uint64(p.From))
		e.str(p.Flags)
		e.uint(uint64(p.Seq))
		e.uint(uint64(p.Ack))
		e.int(int64(p.Len))
		e.uint(uint64(p.TTL))
		e.optUint16(p.IPID)
		e.uint(uint64(p.Window))
		e.uint(uint64(boolInt(p.RST) | boolInt(p.After)<<1 | boolInt(p.Partial)<<2))
	}
	if e.present(f.Correlation != nil) {
		c := f.Correlation
		e.str(c.Peer)
		e.str(c.MatchedBy)
		e.addrPort(c.PeerClient)
		e.addrPort(c.PeerServer)
		e.str(c.RST)
		e.frames(c.PeerFrames)
		e.str(c.Clock)
		e.int(int64(c.Offset.Duration))
		e.int(int64(c.OneWay.Duration))
		e.int(int64(c.Samples))
		e.int(int64(c.Lost))
	}
	e.int(int64(f.ConsequenceOf))
	if e.present(f.Echoes != nil) {
		e.int(int64(f.Echoes.Input))
		e.uint(f.Echoes.Packet)
	}
	if e.present(f.Kernel != nil) {
		k := f.Kernel
		e.str(k.Event)
		e.str(k.Reason)
		e.str(k.State)
		e.uint(uint64(k.NetNS))
		e.int(k.DeltaUS)
	}
	e.time(f.AdviceTime)
	return e.b
}

var errSpillRecord = errors.New("report: spill: bad record")

// readSpill decodes a record of appendSpill into f (overwritten whole).
// Its strings are slices of rec.
func readSpill(rec string, f *heuristics.Finding) error {
	d := spillDec{s: rec}
	*f = heuristics.Finding{
		ID:         int(d.int()),
		Cause:      heuristics.Cause(d.str()),
		Origin:     heuristics.Origin(d.str()),
		Confidence: heuristics.Confidence(d.uint()),
		Summary:    d.str(),
	}
	fl := &f.Flow
	fl.Client = d.addrPort()
	fl.Server = d.addrPort()
	fl.RolesFrom = d.str()
	fl.Start.Time = d.time()
	fl.ClientBytes = d.uint()
	fl.ServerBytes = d.uint()
	fl.ClientPackets = d.uint()
	fl.ServerPackets = d.uint()
	fl.Tunnel = d.str()
	fl.VLAN = uint16(d.uint())
	fl.History = d.str()
	fl.ConnState = d.str()

	r := &f.RST
	r.Time.Time = d.time()
	r.Packet = d.uint()
	r.Input = int(d.int())
	r.From = heuristics.Side(d.uint())
	r.Count = int(d.int())
	r.Flags = d.str()
	r.Seq = uint32(d.uint())
	r.Ack = uint32(d.uint())
	r.Window = uint16(d.uint())
	r.TTL = uint8(d.uint())
	r.IPID = d.optUint16()
	r.SeqCheck = d.str()
	r.Frames = d.frames()
	r.PayloadLen = int(d.int())
	r.Payload = d.str()

	f.Stage = d.str()
	f.Errno = d.str()
	if n, ok := d.len(); ok {
		f.Alternatives = make([]heuristics.Cause, n)
		for i := range f.Alternatives {
			f.Alternatives[i] = heuristics.Cause(d.str())
		}
	}
	f.Advice = d.str()
	f.Gap.Duration = time.Duration(d.int())
	f.GapSeconds.Duration = time.Duration(d.int())
	f.KnownTimeout = d.str()

	if d.present() {
		f.Request = &heuristics.RequestInfo{Kind: d.str(), Method: d.str(), Path: d.str(), Host: d.str(),
			SNI: d.str(), ALPN: d.str(), Frame: d.uint(), Earlier: int(d.int())}
	}
	if d.present() {
		a := &heuristics.TLSAlertJSON{From: heuristics.Side(d.uint()), Packet: d.uint(), Encrypted: d.bool(),
			Level: d.str(), Description: d.str()}
		if d.present() {
			c := uint8(d.uint())
			a.Code = &c
		}
		f.TLSAlert = a
	}
	if n, ok := d.len(); ok {
		f.Evidence = make([]heuristics.Evidence, n)
		for i := range f.Evidence {
			f.Evidence[i] = heuristics.Evidence{Signal: heuristics.Signal(d.str()), Detail: d.str(), Frames: d.frames()}
		}
	}
	if n, ok := d.len(); ok {
		f.Packets = make([]heuristics.PacketRow, n)
		for i := range f.Packets {
			p := &f.Packets[i]
			p.Packet = d.uint()
			p.TimeOffset.Duration = time.Duration(d.int())
			p.From = heuristics.Side(d.uint())
			p.Flags = d.str()
			p.Seq = uint32(d.uint())
			p.Ack = uint32(d.uint())
			p.Len = int(d.int())
			p.TTL = uint8(d.uint())
			p.IPID = d.optUint16()
			p.Window = uint16(d.uint())
			bits := d.uint()
			p.RST, p.After, p.Partial = bits&1 != 0, bits&2 != 0, bits&4 != 0
		}
	}
	if d.present() {
		f.Correlation = &heuristics.Correlation{Peer: d.str(), MatchedBy: d.str(), PeerClient: d.addrPort(),
			PeerServer: d.addrPort(), RST: d.str(), PeerFrames: d.frames(), Clock: d.str(),
			Offset:  heuristics.Millis{Duration: time.Duration(d.int())},
			OneWay:  heuristics.Millis{Duration: time.Duration(d.int())},
			Samples: int(d.int()), Lost: int(d.int())}
	}
	f.ConsequenceOf = int(d.int())
	if d.present() {
		f.Echoes = &heuristics.RSTRef{Input: int(d.int()), Packet: d.uint()}
	}
	if d.present() {
		f.Kernel = &heuristics.KernelInfo{Event: d.str(), Reason: d.str(), State: d.str(), NetNS: uint32(d.uint()),
			DeltaUS: d.int()}
	}
	f.AdviceTime = d.time()
	if d.bad || d.i != len(d.s) {
		return errSpillRecord
	}
	return nil
}

// spillEnc appends the parts of a record.
type spillEnc struct{ b []byte }

func (e *spillEnc) uint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *spillEnc) int(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *spillEnc) bool(v bool)   { e.b = append(e.b, byte(boolInt(v))) }

func (e *spillEnc) str(s string) {
	e.uint(uint64(len(s)))
	e.b = append(e.b, s...)
}

// len writes a list's length, or that it is nil.
func (e *spillEnc) len(n int, isNil bool) {
	if isNil {
		e.uint(0)
		return
	}
	e.uint(uint64(n) + 1)
}

// present writes whether an optional part follows, and returns it.
func (e *spillEnc) present(ok bool) bool {
	e.bool(ok)
	return ok
}

func (e *spillEnc) optUint16(v *uint16) {
	if e.present(v != nil) {
		e.uint(uint64(*v))
	}
}

func (e *spillEnc) frames(fs []uint64) {
	e.len(len(fs), fs == nil)
	for _, n := range fs {
		e.uint(n)
	}
}

func (e *spillEnc) time(t time.Time) {
	e.int(t.Unix())
	e.uint(uint64(t.Nanosecond()))
}

// addrPort writes the address (0, 4 or 16 bytes; netip's binary form
// with a zone), then the port.
func (e *spillEnc) addrPort(ap netip.AddrPort) {
	switch a := ap.Addr(); {
	case !a.IsValid():
		e.uint(0)
	case a.Is4():
		x := a.As4()
		e.uint(4)
		e.b = append(e.b, x[:]...)
	case a.Zone() == "":
		x := a.As16()
		e.uint(16)
		e.b = append(e.b, x[:]...)
	default:
		b, _ := a.MarshalBinary() // never fails
		e.str(string(b))
	}
	e.uint(uint64(ap.Port()))
}

// spillDec reads the parts of a record; past the first fault every read
// gives zero and bad is set.
type spillDec struct {
	s   string
	i   int
	bad bool
}

func (d *spillDec) uint() uint64 {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if d.i >= len(d.s) {
			break
		}
		c := d.s[d.i]
		d.i++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v
		}
	}
	d.bad, d.i = true, len(d.s)
	return 0
}

func (d *spillDec) int() int64 {
	u := d.uint()
	return int64(u>>1) ^ -int64(u&1) // zig-zag, as binary.AppendVarint
}

func (d *spillDec) bool() bool { return d.uint() != 0 }

func (d *spillDec) str() string {
	n := d.uint()
	if n > uint64(len(d.s)-d.i) {
		d.bad, d.i = true, len(d.s)
		return ""
	}
	s := d.s[d.i : d.i+int(n)]
	d.i += int(n)
	return s
}

// len reads a list's length; ok is false for a nil list.
func (d *spillDec) len() (n int, ok bool) {
	v := d.uint()
	if v == 0 {
		return 0, false
	}
	if v-1 > uint64(len(d.s)-d.i) { // every element takes a byte at least
		d.bad, d.i = true, len(d.s)
		return 0, false
	}
	return int(v - 1), true
}

func (d *spillDec) present() bool { return d.bool() }

func (d *spillDec) optUint16() *uint16 {
	if !d.present() {
		return nil
	}
	v := uint16(d.uint())
	return &v
}

func (d *spillDec) frames() []uint64 {
	n, ok := d.len()
	if !ok {
		return nil
	}
	fs := make([]uint64, n)
	for i := range fs {
		fs[i] = d.uint()
	}
	return fs
}

func (d *spillDec) time() time.Time {
	sec, nsec := d.int(), d.uint()
	return time.Unix(sec, int64(nsec)).UTC()
}

func (d *spillDec) addrPort() netip.AddrPort {
	var a netip.Addr
	switch b := d.str(); len(b) {
	case 0:
	case 4:
		a = netip.AddrFrom4([4]byte{b[0], b[1], b[2], b[3]})
	case 16:
		var x [16]byte
		copy(x[:], b)
		a = netip.AddrFrom16(x)
	default:
		if a.UnmarshalBinary([]byte(b)) != nil {
			d.bad = true
		}
	}
	return netip.AddrPortFrom(a, uint16(d.uint()))
}
