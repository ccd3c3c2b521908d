package kernel

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// Version is the NDJSON line format's version, the "v" of every line.
const Version = 1

// line is one NDJSON line: a session line (type "session": written when
// tracing starts and again, with stop and lost, when it ends) or an event
// line (type "event").
type line struct {
	V    int    `json:"v"`
	Type string `json:"type"`
	// session
	Start     *time.Time   `json:"start,omitempty"`
	Stop      *time.Time   `json:"stop,omitempty"`
	Kernel    string       `json:"kernel,omitempty"`
	Reasons   *bool        `json:"reasons,omitempty"`
	AllResets *bool        `json:"all_resets,omitempty"`
	Drops     *bool        `json:"drops,omitempty"`
	Local     []netip.Addr `json:"local,omitempty"`
	Lost      *uint64      `json:"lost,omitempty"`
	// event
	Kind     Kind           `json:"kind,omitempty"`
	Time     *time.Time     `json:"time,omitempty"`
	Sender   netip.AddrPort `json:"sender,omitzero"`
	Receiver netip.AddrPort `json:"receiver,omitzero"`
	State    string         `json:"state,omitempty"`
	Reason   string         `json:"reason,omitempty"`
	Cookie   uint64         `json:"cookie,omitempty"`
	NetNS    uint32         `json:"netns,omitempty"`
	// session
	Namespaces []uint32 `json:"namespaces,omitempty"`
}

// Writer writes sessions and events as NDJSON, one line each. It keeps the
// first error and returns it from every later call.
type Writer struct {
	w   *bufio.Writer
	err error
}

// NewWriter writes to w; call Flush to push buffered lines.
func NewWriter(w io.Writer) *Writer { return &Writer{w: bufio.NewWriter(w)} }

func (w *Writer) put(l *line) error {
	if w.err != nil {
		return w.err
	}
	b, err := json.Marshal(l)
	if err == nil {
		b = append(b, '\n')
		_, err = w.w.Write(b)
	}
	if err != nil {
		w.err = fmt.Errorf("kernel: write events: %w", err)
	}
	return w.err
}

// WriteSession writes s; write it when tracing starts and once more when it
// stops (the reader keeps the last line for the same Start).
func (w *Writer) WriteSession(s Session) error {
	l := &line{V: Version, Type: "session", Start: &s.Start, Kernel: s.Kernel,
		Reasons: &s.Reasons, AllResets: &s.AllResets, Drops: &s.Drops, Local: s.Local, Lost: &s.Lost, Namespaces: s.NetNS}
	if !s.Stop.IsZero() {
		l.Stop = &s.Stop
	}
	return w.put(l)
}

// Write writes one event.
func (w *Writer) Write(e Event) error {
	t := e.Time.UTC()
	return w.put(&line{V: Version, Type: "event", Kind: e.Kind, Time: &t, Sender: e.Sender,
		Receiver: e.Receiver, State: e.State, Reason: e.Reason, Cookie: e.Cookie, NetNS: e.NetNS})
}

// Flush writes buffered lines out.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if err := w.w.Flush(); err != nil {
		w.err = fmt.Errorf("kernel: write events: %w", err)
	}
	return w.err
}

// Reader reads what a Writer wrote.
type Reader struct {
	sc       *bufio.Scanner
	name     string
	n        int
	sessions []Session
}

// NewReader reads NDJSON from r; name is used in messages.
func NewReader(r io.Reader, name string) *Reader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 1<<20)
	return &Reader{sc: sc, name: name}
}

// Next returns the next event, reading session lines on the way; io.EOF at
// the end. A bad line is an error naming the file and line number.
func (r *Reader) Next() (Event, error) {
	for r.sc.Scan() {
		r.n++
		b := r.sc.Bytes()
		if len(b) == 0 {
			continue
		}
		var l line
		if err := json.Unmarshal(b, &l); err != nil {
			return Event{}, r.errorf("%v", err)
		}
		if l.V != Version {
			return Event{}, r.errorf("format version %d, this rstscope reads %d", l.V, Version)
		}
		switch l.Type {
		case "session":
			if l.Start == nil {
				return Event{}, r.errorf("session without start")
			}
			s := Session{Start: *l.Start, Kernel: l.Kernel, Local: l.Local, NetNS: l.Namespaces}
			if l.Stop != nil {
				s.Stop = *l.Stop
			}
			s.Reasons = l.Reasons != nil && *l.Reasons
			s.AllResets = l.AllResets != nil && *l.AllResets
			s.Drops = l.Drops != nil && *l.Drops
			if l.Lost != nil {
				s.Lost = *l.Lost
			}
			if k := len(r.sessions) - 1; k >= 0 && r.sessions[k].Start.Equal(s.Start) {
				r.sessions[k] = s
			} else {
				r.sessions = append(r.sessions, s)
			}
		case "event":
			if l.Time == nil || l.Kind == KindUnknown || !l.Sender.IsValid() || !l.Receiver.IsValid() {
				return Event{}, r.errorf("event needs time, kind, sender and receiver")
			}
			return Event{Kind: l.Kind, Time: l.Time.UTC(), Sender: l.Sender, Receiver: l.Receiver,
				State: l.State, Reason: l.Reason, NetNS: l.NetNS, Cookie: l.Cookie}, nil
		default:
			return Event{}, r.errorf("unknown line type %q", l.Type)
		}
	}
	if err := r.sc.Err(); err != nil {
		return Event{}, fmt.Errorf("kernel: %s: line %d: %w", r.name, r.n+1, err)
	}
	return Event{}, io.EOF
}

// Sessions returns the sessions read so far.
func (r *Reader) Sessions() []Session { return r.sessions }

func (r *Reader) errorf(format string, a ...any) error {
	return fmt.Errorf("kernel: %s: line %d: %s", r.name, r.n, fmt.Sprintf(format, a...))
}

// ReadIndex reads a whole NDJSON file into an Index.
func ReadIndex(rd io.Reader, name string) (*Index, error) {
	r := NewReader(rd, name)
	var events []Event
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		events = append(events, e)
	}
	return NewIndex(events, r.Sessions()), nil
}
