package kernel

import (
	"net"
	"net/netip"
	"time"
)

// Session is what one recording of events covers: when, on which kernel,
// for which namespace and local addresses, with how many events lost. The
// Index asks it before it takes a missing event as evidence.
type Session struct {
	Start, Stop time.Time // wall clock; Stop is zero while tracing
	Kernel      string    // uname release, e.g. "6.18.0"
	// Reasons: tcp_send_reset has the reason field (6.10+; active-reset
	// reasons from 6.12, NOT_SPECIFIED before).
	Reasons bool
	// AllResets: tcp_send_reset fires for every RST the TCP stack sends,
	// NO_SOCKET and TIME_WAIT included (6.10+). Without it a missing
	// send_reset proves nothing.
	AllResets bool
	// Drops: RSTs the stack dropped (kfree_skb TCP_OLD_SEQUENCE /
	// TCP_INVALID_SEQUENCE, 6.2+) are traced.
	Drops bool
	NetNS []uint32     // namespaces kept (none: all namespaces)
	Local []netip.Addr // this host's addresses in that namespace at Start
	Lost  uint64       // events lost (ring full)
}

// covers says whether the session traced instant t.
func (s *Session) covers(t time.Time) bool {
	return !t.Before(s.Start) && (s.Stop.IsZero() || !t.After(s.Stop))
}

func (s *Session) local(a netip.Addr) bool {
	for _, l := range s.Local {
		if l == a.Unmap() {
			return true
		}
	}
	return false
}

// localAddrs lists the addresses of the calling thread's network namespace.
func localAddrs() []netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr().Unmap())
		}
	}
	return out
}
