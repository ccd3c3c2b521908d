//go:build cgo

package capture

import (
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket/pcap"
)

// liveReadTimeout bounds how long Next waits in libpcap before it looks at
// the closed flag again; Close takes at most this long to stop a blocked
// Next.
const liveReadTimeout = 150 * time.Millisecond

// liveSource reads a live interface through libpcap.
type liveSource struct {
	iface    string
	h        *pcap.Handle
	linkType int
	dec      *Decoder
	buf      []byte // the current frame, copied out of libpcap's buffer

	// mu serialises reading from the handle with closing it: Close may come
	// from another goroutine (a signal handler) while Next is in libpcap.
	mu       sync.Mutex
	closed   atomic.Bool // Close was called: Next returns io.EOF
	released bool        // under mu: the handle is closed, drops holds its last counters
	drops    Stats       // kernel counters taken at Close, while the handle lived

	index uint64
	stats Stats

	// Clock (see Clock and ErrTimeout): lastTime is the timestamp of the
	// last frame read, mark the packet time at which Next last returned,
	// idleSince the monotonic instant the link was first seen silent after
	// the last frame (zero while frames come).
	lastTime  time.Time
	mark      time.Time
	idleSince time.Time
}

// OpenLive opens a live capture on iface ("any" for every interface on
// Linux). See LiveOptions for the defaults. The Source's Close may be called
// from another goroutine: a Next blocked waiting for traffic then returns
// io.EOF within about 150 ms. The Source also implements LinkTyper.
func OpenLive(iface string, opts LiveOptions) (Source, error) {
	if iface != "any" {
		if _, err := net.InterfaceByName(iface); err != nil {
			return nil, noSuchInterface(iface)
		}
	}
	snaplen := opts.Snaplen
	if snaplen <= 0 {
		snaplen = maxRecordLen
	}
	in, err := pcap.NewInactiveHandle(iface)
	if err != nil {
		return nil, liveErr(iface, err)
	}
	defer in.CleanUp()
	if err := in.SetSnapLen(snaplen); err != nil {
		return nil, liveErr(iface, err)
	}
	// libpcap's "any" device has no promiscuous mode: asking for it makes
	// activation fail with a warning.
	if err := in.SetPromisc(opts.Promisc && iface != "any"); err != nil {
		return nil, liveErr(iface, err)
	}
	if err := in.SetImmediateMode(opts.Immediate); err != nil {
		return nil, liveErr(iface, err)
	}
	if err := in.SetTimeout(liveReadTimeout); err != nil {
		return nil, liveErr(iface, err)
	}
	if opts.BufferSize > 0 {
		if err := in.SetBufferSize(opts.BufferSize); err != nil {
			return nil, liveErr(iface, err)
		}
	}
	h, err := in.Activate()
	if err != nil {
		return nil, liveErr(iface, err)
	}
	// SLL2 is asked for on "any" because it names the interface and keeps
	// the link-layer type of every frame.
	if iface == "any" && h.LinkType() != linkSLL2 {
		// libpcap 1.10 offers SLL2 on "any" but starts with SLL; older
		// versions refuse, and SLL is fine then.
		_ = h.SetLinkType(linkSLL2)
	}
	if opts.Filter != "" {
		if err := h.SetBPFFilter(opts.Filter); err != nil {
			h.Close()
			return nil, fmt.Errorf("capture: bad filter %q: %s", opts.Filter, err)
		}
	}
	return &liveSource{
		iface:    iface,
		h:        h,
		linkType: int(h.LinkType()),
		dec:      NewDecoder(),
		buf:      make([]byte, snaplen),
	}, nil
}

// liveErr turns a libpcap error at open into a one-line message; lack of
// privilege says how to get it.
func liveErr(iface string, err error) error {
	msg := err.Error()
	low := strings.ToLower(msg)
	switch {
	case strings.Contains(low, "permission") || strings.Contains(low, "not permitted"):
		exe, err := os.Executable()
		if err != nil {
			exe = "rstscope"
		}
		return &permissionError{iface: iface, exe: exe}
	case strings.Contains(low, "no such device"):
		return noSuchInterface(iface)
	}
	return fmt.Errorf("capture: %s: %s", iface, lowerFirst(strings.TrimPrefix(msg, "Error: ")))
}

// permissionError is a capture refused for lack of privilege; it matches
// fs.ErrPermission.
type permissionError struct{ iface, exe string }

func (e *permissionError) Error() string {
	return "capture: " + e.iface + ": permission denied: capturing needs root or the CAP_NET_RAW and CAP_NET_ADMIN " +
		"capabilities: run with sudo, or grant them once with `sudo setcap cap_net_raw,cap_net_admin=eip " + e.exe + "`"
}

func (e *permissionError) Unwrap() error { return fs.ErrPermission }

// noSuchInterface names the interfaces libpcap can open.
func noSuchInterface(iface string) error {
	var names []string
	if devs, err := pcap.FindAllDevs(); err == nil {
		for _, d := range devs {
			names = append(names, d.Name)
		}
	}
	if len(names) == 0 {
		return fmt.Errorf("capture: %s: %w", iface, ErrNoInterface)
	}
	sort.Strings(names)
	return fmt.Errorf("capture: %s: %w (available: %s)", iface, ErrNoInterface, strings.Join(names, ", "))
}

// Next implements Source. It returns io.EOF once Close was called, and
// ErrTimeout when no TCP packet came within the read timeout: after a read
// timeout of a silent link, or when the frames skipped since Next last
// returned span a read timeout of packet time. p is not filled then.
func (s *liveSource) Next(p *Packet) error {
	for {
		s.mu.Lock()
		if s.closed.Load() {
			s.mu.Unlock()
			return io.EOF
		}
		data, ci, err := s.h.ZeroCopyReadPacketData()
		n := 0
		if err == nil {
			n = copy(s.buf, data)
		}
		s.mu.Unlock()
		switch {
		case err == pcap.NextErrorTimeoutExpired:
			if s.idleSince.IsZero() && !s.lastTime.IsZero() {
				s.idleSince = time.Now() // the wall clock, once per silence
			}
			s.mark = s.Now()
			return ErrTimeout
		case err == io.EOF:
			return io.EOF
		case err != nil:
			if s.closed.Load() {
				return io.EOF
			}
			return s.readErr(err)
		}
		frame := s.buf[:n]
		s.index++
		t := ci.Timestamp.UTC()
		s.stats.Packets++
		if s.stats.Packets == 1 {
			s.stats.FirstTime = t
		}
		s.stats.LastTime = t
		s.lastTime, s.idleSince = t, time.Time{}
		if err := s.dec.Decode(s.linkType, frame, p); err != nil {
			countDecodeErr(&s.stats, s.dec, err, 0, s.index)
			if s.mark.IsZero() {
				s.mark = t
			} else if t.Sub(s.mark) >= liveReadTimeout {
				s.mark = t
				return ErrTimeout
			}
			continue
		}
		s.mark = t
		p.Index = s.index
		p.Input = 0
		p.FlowHash, p.RouteHash = s.dec.hash, s.dec.route // when the fast path hashed the frame; else 0
		p.Time = t
		p.CapLen = n
		p.WireLen = ci.Length
		s.stats.TCPPackets++
		if p.CapLen < p.WireLen && p.Truncated() {
			s.stats.SnapCut++
		}
		return nil
	}
}

// readErr explains a failed read: gopacket says only "Read Error", libpcap
// has the reason, and an interface that no longer exists (ip link del, a
// VPN or container going down) is named as such.
func (s *liveSource) readErr(err error) error {
	s.mu.Lock()
	if e := s.h.Error(); e != nil && e.Error() != "" {
		err = e
	}
	s.mu.Unlock()
	if s.iface != "any" {
		if _, ierr := net.InterfaceByName(s.iface); ierr != nil {
			return fmt.Errorf("capture: interface %s went away (%s)", s.iface, lowerFirst(err.Error()))
		}
	}
	return fmt.Errorf("capture: %s: %s", s.iface, lowerFirst(err.Error()))
}

// Stats implements Source, with libpcap's kernel and interface drop
// counters. Call it from the goroutine that calls Next.
func (s *liveSource) Stats() Stats {
	st := s.stats
	st.FirstErrors = append([]FrameError(nil), s.stats.FirstErrors...)
	st.Hidden = append([]HiddenCount(nil), s.stats.Hidden...)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.released {
		st.KernelDrops, st.IfaceDrops = s.drops.KernelDrops, s.drops.IfaceDrops
		return st
	}
	// Close may have begun (closed set) and be waiting for mu: the handle
	// is still open, its counters are current.
	if ps, err := s.h.Stats(); err == nil {
		st.KernelDrops, st.IfaceDrops = uint64(ps.PacketsDropped), uint64(ps.PacketsIfDropped)
	}
	return st
}

// Now implements Clock.
func (s *liveSource) Now() time.Time {
	if s.idleSince.IsZero() {
		return s.lastTime
	}
	return s.lastTime.Add(time.Since(s.idleSince))
}

// LinkTypes implements LinkTyper.
func (s *liveSource) LinkTypes() []int { return []int{s.linkType} }

func (s *liveSource) addsLinkTypes() bool { return false }

// Close implements Source. It may be called from another goroutine and
// more than once.
func (s *liveSource) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.mu.Lock() // waits for a Next in libpcap: at most liveReadTimeout
	defer s.mu.Unlock()
	if ps, err := s.h.Stats(); err == nil {
		s.drops.KernelDrops, s.drops.IfaceDrops = uint64(ps.PacketsDropped), uint64(ps.PacketsIfDropped)
	}
	s.h.Close()
	s.released = true
	return nil
}

var (
	_ Source    = (*liveSource)(nil)
	_ LinkTyper = (*liveSource)(nil)
	_ Clock     = (*liveSource)(nil)
)

// ListInterfaces writes the interfaces libpcap can capture on, one a line,
// as tcpdump -D does: "1.eth0 [Up, Running, Connected]".
func ListInterfaces(w io.Writer) error {
	devs, err := pcap.FindAllDevs()
	if err != nil {
		return fmt.Errorf("capture: list interfaces: %w", err)
	}
	for i, d := range devs {
		fmt.Fprintf(w, "%d.%s", i+1, d.Name)
		if d.Description != "" {
			fmt.Fprintf(w, " (%s)", d.Description)
		}
		if d.Flags != 0 {
			fmt.Fprintf(w, " [%s]", ifaceFlags(d.Flags))
		}
		fmt.Fprintln(w)
	}
	return nil
}

// ifaceFlags spells libpcap's PCAP_IF_ flags as tcpdump -D does.
func ifaceFlags(f uint32) string {
	const (
		up, running, loopback, wireless = 0x2, 0x4, 0x1, 0x8
		status, unknown, connected, off = 0x30, 0x00, 0x10, 0x20
	)
	var names []string
	for _, b := range []struct {
		bit  uint32
		name string
	}{{up, "Up"}, {running, "Running"}, {loopback, "Loopback"}, {wireless, "Wireless"}} {
		if f&b.bit != 0 {
			names = append(names, b.name)
		}
	}
	s := strings.Join(names, ", ")
	if s == "" {
		s = "none"
	}
	conn := map[uint32][2]string{
		unknown:   {", Connection status unknown", ", Association status unknown"},
		connected: {", Connected", ", Associated"},
		off:       {", Disconnected", ", Not associated"},
	}[f&status]
	if f&wireless != 0 {
		return s + conn[1]
	}
	return s + conn[0]
}
