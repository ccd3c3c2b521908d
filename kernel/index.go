package kernel

import (
	"net/netip"
	"slices"
	"sync"
	"time"
)

// DefaultTolerance is how far an event's time may be from its frame's time
// to join them. Measured on 6.18 (see doc.go): events come within about
// 100 us of their frame; the tuple must match exactly, so the window can be
// wider, for a busy host. A frame captured where it arrives rather than
// where it leaves can be stamped later under load (the lab saw more than
// 5 ms once); the window is kept narrow because an event joins every frame
// of its tuple within it, and a forged RST beside a genuine one would
// share its event.
const DefaultTolerance = 5 * time.Millisecond

// Match is an event joined with an RST frame.
type Match struct {
	Event
	Delta time.Duration // event time minus frame time
}

type tuple struct{ sender, receiver netip.AddrPort }

// key is where an event is indexed. A listening socket's RST (an ACK or
// FIN for a connection it no longer has reaches the listener: state
// TCP_LISTEN, reason TCP_FLAGS on 6.18) is traced with the listener's
// tuple: no receiver (0.0.0.0:0 or [::]:0), and no sender address when it
// listens on all of them. Such an event is indexed by its sender's port
// alone ("wild") and joins any RST from that port its address allows.
func key(e *Event) (tuple, bool) {
	if e.Receiver.Port() == 0 || e.Receiver.Addr().IsUnspecified() {
		return tuple{sender: netip.AddrPortFrom(netip.Addr{}, e.Sender.Port())}, true
	}
	return tuple{unmap(e.Sender), unmap(e.Receiver)}, false
}

// Index joins RST frames with the kernel's events by the RST's sender and
// receiver and the frame's time. It is safe for concurrent use: live, a
// Tracer's goroutine Adds while the engine Looks up.
type Index struct {
	Tolerance time.Duration // set before use
	mu        sync.RWMutex
	sessions  []Session
	byTuple   map[tuple][]Event // each sorted by time
	n         int
	total     int    // events ever indexed, pruned ones included
	kinds     [4]int // total by Kind
}

// NewIndex indexes events (any order) recorded in sessions.
func NewIndex(events []Event, sessions []Session) *Index {
	x := &Index{Tolerance: DefaultTolerance, sessions: slices.Clone(sessions), byTuple: map[tuple][]Event{}, n: len(events), total: len(events)}
	for _, e := range events {
		x.count(e.Kind)
		k, _ := key(&e)
		x.byTuple[k] = append(x.byTuple[k], e)
	}
	for _, es := range x.byTuple {
		slices.SortStableFunc(es, func(a, b Event) int { return a.Time.Compare(b.Time) })
	}
	return x
}

// Add indexes one more event (live: as the Tracer reads it).
func (x *Index) Add(e Event) {
	x.mu.Lock()
	defer x.mu.Unlock()
	k, _ := key(&e)
	es := x.byTuple[k]
	i := len(es)
	for i > 0 && es[i-1].Time.After(e.Time) {
		i--
	}
	x.byTuple[k] = slices.Insert(es, i, e)
	x.n++
	x.total++
	x.count(e.Kind)
}

func (x *Index) count(k Kind) {
	if int(k) < len(x.kinds) {
		x.kinds[k]++
	}
}

// SetSession adds s, or replaces the session with the same Start (live:
// when tracing stops, with Stop and Lost).
func (x *Index) SetSession(s Session) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for i := range x.sessions {
		if x.sessions[i].Start.Equal(s.Start) {
			x.sessions[i] = s
			return
		}
	}
	x.sessions = append(x.sessions, s)
}

// Prune forgets events before t (live: RSTs before t are judged), keeping
// memory bounded.
func (x *Index) Prune(t time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for k, es := range x.byTuple {
		i := 0
		for i < len(es) && es[i].Time.Before(t) {
			i++
		}
		x.n -= i
		if i == len(es) {
			delete(x.byTuple, k)
		} else if i > 0 {
			x.byTuple[k] = slices.Clone(es[i:])
		}
	}
}

func unmap(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// Len is the number of events indexed.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.n
}

// Total is the number of events ever indexed, pruned ones included.
func (x *Index) Total() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.total
}

// TotalOf is the number of events of kind k ever indexed, pruned ones
// included (for rstscope_kernel_events_total).
func (x *Index) TotalOf(k Kind) int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if int(k) < len(x.kinds) {
		return x.kinds[k]
	}
	return 0
}

// Sessions returns the recordings the events came from.
func (x *Index) Sessions() []Session {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return slices.Clone(x.sessions)
}

// Lookup returns, for each kind of event, the one nearest in time to an RST
// frame sent by sender to receiver at t, within the Tolerance; ordered by
// Kind (send_reset, receive_reset, dropped).
func (x *Index) Lookup(sender, receiver netip.AddrPort, t time.Time) []Match {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.lookup(sender, receiver, t)
}

func (x *Index) lookup(sender, receiver netip.AddrPort, t time.Time) []Match {
	var best, wild [4]*Match
	x.nearest(&best, x.byTuple[tuple{unmap(sender), unmap(receiver)}], netip.Addr{}, t)
	x.nearest(&wild, x.byTuple[tuple{sender: netip.AddrPortFrom(netip.Addr{}, sender.Port())}], sender.Addr().Unmap(), t)
	for k := range best {
		if best[k] == nil {
			best[k] = wild[k] // an event with the exact tuple wins
		}
	}
	var out []Match
	for _, b := range best {
		if b != nil {
			out = append(out, *b)
		}
	}
	return out
}

// nearest keeps in best, per kind, the event of es nearest to t within the
// Tolerance; with addr valid (wild events), only events whose sender
// address is addr or unspecified.
func (x *Index) nearest(best *[4]*Match, es []Event, addr netip.Addr, t time.Time) {
	if len(es) == 0 {
		return
	}
	lo, _ := slices.BinarySearchFunc(es, t.Add(-x.Tolerance), func(e Event, t time.Time) int { return e.Time.Compare(t) })
	for i := lo; i < len(es) && !es[i].Time.After(t.Add(x.Tolerance)); i++ {
		if a := es[i].Sender.Addr().Unmap(); addr.IsValid() && !a.IsUnspecified() && a != addr {
			continue
		}
		m := Match{Event: es[i], Delta: es[i].Time.Sub(t)}
		k := es[i].Kind
		if int(k) >= len(best) {
			continue
		}
		if b := best[k]; b == nil || abs(m.Delta) < abs(b.Delta) {
			best[k] = &m
		}
	}
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// Absent says whether an RST frame from sender to receiver at t was put on
// the wire by this host without its TCP stack sending it (kernel_absent: a
// local firewall's REJECT or a raw socket). It is true only when a session
// covers t with a margin of the Tolerance, on a kernel whose tcp_send_reset
// fires for every RST (6.10+), with no event lost, sender is one of the
// session's local addresses, and no send_reset joins the frame. Elsewhere
// absence proves nothing and Absent is false.
func (x *Index) Absent(sender, receiver netip.AddrPort, t time.Time) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	ok := false
	for i := range x.sessions {
		s := &x.sessions[i]
		if s.AllResets && s.Lost == 0 && s.covers(t.Add(-x.Tolerance)) && s.covers(t.Add(x.Tolerance)) &&
			s.local(sender.Addr()) {
			ok = true
			break
		}
	}
	if !ok {
		return false
	}
	for _, m := range x.lookup(sender, receiver, t) {
		if m.Kind == KindSendReset {
			return false
		}
	}
	return true
}
