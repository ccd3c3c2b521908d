package flows

import (
	"bytes"
	"crypto/tls"
	"net/netip"
	"reflect"
	"testing"

	"github.com/rstscope/rstscope/capture"
)

// interleaveOther puts after each packet of pk a pure ACK of another flow
// (client port 40001), a microsecond later, frames renumbered.
func interleaveOther(pk []capture.Packet) []capture.Packet {
	other := netip.AddrPortFrom(cliAddr.Addr(), 40001)
	var out []capture.Packet
	for i, p := range pk {
		q := capture.Packet{Time: p.Time.Add(1000), Src: other, Dst: srvAddr, Flags: capture.ACK, Seq: uint32(5000 + i), Ack: 7000, Window: 1000, TTL: 64}
		out = append(out, p, q)
	}
	for i := range out {
		out[i].Index = uint64(i + 1)
	}
	return out
}

// reframe splits the handshake message of the TLS record rec into records
// whose bodies end at the given offsets of the message.
func reframe(rec []byte, cuts ...int) []byte {
	hs := rec[5:]
	var out []byte
	prev := 0
	for _, c := range append(cuts, len(hs)) {
		body := hs[prev:c]
		out = append(out, TLSHandshake, rec[1], rec[2], byte(len(body)>>8), byte(len(body)))
		out = append(out, body...)
		prev = c
	}
	return out
}

// TestTLS_clientHelloSplit (issue 14 item 12): a ClientHello split after
// its first byte (as anti-censorship tools do), across two TLS records, or
// both, still gives its SNI, ALPN and versions, as tshark finds them.
func TestTLS_clientHelloSplit(t *testing.T) {
	writes := tlsExchange(t, &tls.Config{ServerName: "split.example.com", NextProtos: []string{"h2"}, InsecureSkipVerify: true},
		&tls.Config{Certificates: []tls.Certificate{testCert(t)}, SessionTicketsDisabled: true})
	hello := writes[0].b
	sni := bytes.Index(hello, []byte("split.example.com"))
	if sni < 0 || writes[0].from != FromClient {
		t.Fatal("the first write is not a ClientHello naming split.example.com")
	}
	inHS := sni - 5 // offset of the SNI in the handshake message
	cases := []struct {
		name   string
		stream [][]byte // the client's writes, each its own segments
		mss    int
	}{
		{"after_first_byte", [][]byte{hello[:1], hello[1:]}, 1 << 16},
		{"after_first_byte_small_segments", [][]byte{hello[:1], hello[1:]}, 7},
		{"two_records_sni_in_second", [][]byte{reframe(hello, inHS-3)}, 1 << 16},
		{"two_records_sni_across", [][]byte{reframe(hello, inHS+4)}, 1 << 16},
		{"header_across_records", [][]byte{reframe(hello, 1, 2)}, 1 << 16},
		{"two_records_two_segments", [][]byte{reframe(hello, 40)[:45], reframe(hello, 40)[45:]}, 1 << 16},
		{"records_and_first_byte", func() [][]byte { b := reframe(hello, 20, inHS+2); return [][]byte{b[:1], b[1:]} }(), 100},
		// A record header claiming more than maxHelloRaw (17,408 bytes, a
		// valid TLSCiphertext length) around a short message, its first
		// two bytes alone: the message header tells what to wait for, not
		// the record's.
		{"record_longer_than_message", func() [][]byte {
			b := append([]byte(nil), hello...)
			b[3], b[4] = 0x44, 0x00
			return [][]byte{b[:2], b[2:]}
		}(), 1 << 16},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ws []write
			for _, b := range tc.stream {
				ws = append(ws, write{from: FromClient, b: b})
			}
			pk := tlsPackets(t, ws, tc.mss, "S>C RA")
			e := run(t, Options{}, pk).one(t)
			// Frozen between its segments (another flow's packet after
			// each, one flow hot): the same event, hello completed.
			mixed := interleaveOther(pk)
			want := run(t, Options{}, mixed)
			got := run(t, Options{HotFlows: 1}, mixed)
			if got.table.frz.thaws == 0 || !reflect.DeepEqual(got.events, want.events) || !reflect.DeepEqual(got.ended, want.ended) {
				t.Errorf("HotFlows 1: %d thaws; events or flow ends differ from the all-hot table's", got.table.frz.thaws)
			}
			c := e.Flow.Profile(FromClient)
			r := c.Request
			if r.Kind != PayloadTLSClientHello || r.SNI != "split.example.com" || r.ALPN != "h2" || r.TLSMaxVersion != 0x0304 || r.Cut || r.Frame != 4 {
				t.Errorf("got %+v, want SNI split.example.com, ALPN h2, max version 0x0304, frame 4, not cut", r)
			}
			if c.FirstPayload != PayloadTLSClientHello || c.TLSBroken || c.TLSRecords&(1<<(TLSHandshake-20)) == 0 {
				t.Errorf("client: first payload %v, TLS broken %v, records %08b: want a ClientHello and the handshake records tracked", c.FirstPayload, c.TLSBroken, c.TLSRecords)
			}
		})
	}
	t.Run("not_a_hello", func(t *testing.T) {
		// A first byte of 22 that turns out to be a ServerHello-shaped
		// record is reclassified, not left as a ClientHello.
		sh := append([]byte(nil), hello...)
		sh[5] = 2
		e := run(t, Options{}, tlsPackets(t, []write{{FromClient, sh[:1]}, {FromClient, sh[1:]}}, 1<<16, "S>C RA")).one(t)
		if k := e.Flow.Profile(FromClient).Request.Kind; k != PayloadTLSServerHello {
			t.Errorf("got kind %v, want tls_server_hello", k)
		}
	})
}
