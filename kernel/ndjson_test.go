package kernel

import (
	"bytes"
	"io"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

func TestWriterReader_roundTrip(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 123456789, time.UTC)
	s := Session{Start: t0, Kernel: "6.18.44", Reasons: true, AllResets: true, Drops: true, NetNS: []uint32{4026531840},
		Local: []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("fd00::1")}}
	events := []Event{
		{Kind: KindSendReset, Time: t0.Add(time.Millisecond), Sender: netip.MustParseAddrPort("10.0.0.1:80"),
			Receiver: netip.MustParseAddrPort("10.0.0.2:5000"), State: "UNKNOWN", Reason: "NO_SOCKET", NetNS: 4026531840},
		{Kind: KindReceiveReset, Time: t0.Add(2 * time.Millisecond), Sender: netip.MustParseAddrPort("[fd00::2]:443"),
			Receiver: netip.MustParseAddrPort("[fd00::1]:6000"), NetNS: 4026531840, Cookie: 77},
		{Kind: KindDropped, Time: t0.Add(3 * time.Millisecond), Sender: netip.MustParseAddrPort("10.0.0.9:1"),
			Receiver: netip.MustParseAddrPort("10.0.0.1:80"), Reason: "TCP_INVALID_SEQUENCE"},
	}
	var buf bytes.Buffer
	w := NewWriter(&buf)
	w.WriteSession(s)
	for _, e := range events {
		w.Write(e)
	}
	s.Stop, s.Lost = t0.Add(time.Minute), 3
	w.WriteSession(s)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	r := NewReader(&buf, "x.ndjson")
	for i, want := range events {
		got, err := r.Next()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if got != want {
			t.Errorf("event %d: got %+v, want %+v", i, got, want)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("at end: got %v, want io.EOF", err)
	}
	ss := r.Sessions()
	if len(ss) != 1 || !ss[0].Stop.Equal(s.Stop) || ss[0].Lost != 3 || len(ss[0].Local) != 2 || !ss[0].AllResets || !ss[0].Drops ||
		len(ss[0].NetNS) != 1 {
		t.Errorf("sessions %+v, want the stop line's session %+v", ss, s)
	}
}

func TestReader_badLines(t *testing.T) {
	const ok = `{"v":1,"type":"event","kind":"send_reset","time":"2026-01-01T00:00:00Z","sender":"10.0.0.1:80","receiver":"10.0.0.2:1"}` + "\n"
	for _, tc := range []struct{ in, want string }{
		{ok + "\n" + "{not json\n", "x.ndjson: line 3: invalid character"},
		{`{"v":2,"type":"event"}` + "\n", "line 1: format version 2, this rstscope reads 1"},
		{ok + `{"v":1,"type":"gossip"}` + "\n", `line 2: unknown line type "gossip"`},
		{`{"v":1,"type":"event","kind":"send_reset","time":"2026-01-01T00:00:00Z"}` + "\n", "line 1: event needs"},
		{`{"v":1,"type":"event","kind":"sent","time":"2026-01-01T00:00:00Z","sender":"10.0.0.1:80","receiver":"10.0.0.2:1"}` + "\n", `line 1: unknown event kind "sent"`},
		{`{"v":1,"type":"event","kind":"send_reset","time":"2026-01-01T00:00:00Z","sender":"10.0.0.1","receiver":"10.0.0.2:1"}` + "\n", "line 1:"},
		{`{"v":1,"type":"session"}` + "\n", "line 1: session without start"},
	} {
		_, err := ReadIndex(strings.NewReader(tc.in), "x.ndjson")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want error with %q", tc.in, err, tc.want)
		}
	}
}

// TestOldKernelRecording: a recording from a pre-6.10 kernel still joins,
// with no reason, and a missing send_reset is never taken as absence.
func TestOldKernelRecording(t *testing.T) {
	fh, err := os.Open("testdata/old-kernel.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	x, err := ReadIndex(fh, "old-kernel.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	if x.Len() != 2 || len(x.Sessions()) != 1 || x.Sessions()[0].AllResets {
		t.Fatalf("got %d events, sessions %+v", x.Len(), x.Sessions())
	}
	srv, cli := netip.MustParseAddrPort("10.0.0.1:80"), netip.MustParseAddrPort("10.0.0.2:51000")
	frame := time.Date(2026, 3, 1, 10, 0, 5, 0, time.UTC)
	ms := x.Lookup(srv, cli, frame)
	if len(ms) != 1 || ms[0].Kind != KindSendReset || ms[0].Reason != "" || ms[0].State != "TCP_ESTABLISHED" || ms[0].Delta != 10*time.Microsecond {
		t.Errorf("join: got %+v, want one send_reset, no reason, 10us after", ms)
	}
	// A refused SYN on 6.1 has no event: that is no proof of a firewall.
	if x.Absent(srv, netip.MustParseAddrPort("10.0.0.3:4000"), frame.Add(time.Second)) {
		t.Error("Absent on a pre-6.10 kernel: want false")
	}
}

func TestKind_text(t *testing.T) {
	for _, k := range []Kind{KindSendReset, KindReceiveReset, KindDropped} {
		b, _ := k.MarshalText()
		var got Kind
		if err := got.UnmarshalText(b); err != nil || got != k {
			t.Errorf("%v: round trip gave %v, %v", k, got, err)
		}
	}
	if err := new(Kind).UnmarshalText([]byte("unknown")); err == nil {
		t.Error("unknown: want an error")
	}
}
