package report

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rstscope/rstscope/heuristics"
)

// ECSVersion is the Elastic Common Schema version of the field list the
// ecs format is checked against (testdata/ecs-fields.tsv).
const ECSVersion = "9.5.0-dev"

// Observer describes the sensor for the ecs format's observer.* fields.
type Observer struct {
	Hostname  string // observer.hostname
	Interface string // observer.ingress.interface.name (live capture)
	Version   string // observer.version: rstscope's
}

// ecsWriter writes one Elastic Common Schema document per finding, one
// per line (NDJSON), as findings come; nothing at Close, since a log
// store wants events only (the run's counts are in --metrics). The
// finding's JSON contract goes under rstscope.* with its own names; the
// ECS fields are derived from the values that contract prints (and
// TestECS_document holds them to a reference that reads them back from
// it), so the two cannot disagree (REFERENCE.md section 15).
type ecsWriter struct {
	out    sink
	obs    Observer
	n      int
	enc    jsonEnc // compact, for the contract
	rec    []byte  // the contract, reused
	sorted sortedJSON
	line   []byte // the document, reused
}

func newECS(w io.Writer, obs Observer) *ecsWriter { return &ecsWriter{out: sink{w: w}, obs: obs} }

func (e *ecsWriter) Write(f *heuristics.Finding) error {
	if err := e.out.check(f); err != nil {
		return err
	}
	e.n++
	b, err := e.appendDocument(e.line[:0], f, e.n)
	if err == nil {
		e.line = append(b, '\n')
		e.out.write(e.line)
		e.out.flush()
		return e.out.err
	}
	err = fmt.Errorf("report: ecs: %w", err)
	e.out.fail(err)
	return err
}

func (e *ecsWriter) Close(Summary) error { return e.out.finish() }

func (e *ecsWriter) heldSink() *sink { return &e.out }

// appendDocument appends f's ECS document, numbered id, as encoding/json
// writes the map of ECS fields that the contract's fields give (the
// reference, ecsDocumentRef in the tests, which TestECS_document holds
// this byte-identical to): every object's keys in sorted order, compact,
// the contract under rstscope.* as decoded and encoded again (keys
// sorted; strings as re-encoded, so an invalid byte's \ufffd comes back
// as the character itself). Written directly, it costs a tenth of
// decoding the contract into maps and encoding those by reflection
// (about 80 us and 730 allocations a finding).
func (e *ecsWriter) appendDocument(b []byte, f *heuristics.Finding, id int) ([]byte, error) {
	c := forJSON(f)
	c.ID = id
	// What the contract says, as the reference reads it back.
	client, err := reparseAddrPort(c.Flow.Client)
	if err != nil {
		return nil, fmt.Errorf("flow.client: %w", err)
	}
	server, err := reparseAddrPort(c.Flow.Server)
	if err != nil {
		return nil, fmt.Errorf("flow.server: %w", err)
	}
	rstTime := c.RST.Time.String()
	at, err := time.Parse(time.RFC3339Nano, rstTime)
	if err != nil {
		return nil, fmt.Errorf("rst.time: %w", err)
	}
	clamped := f.RST.Time.Clamped() || f.Flow.Start.Clamped()
	startTime := c.Flow.Start.String()
	start, serr := time.Parse(time.RFC3339Nano, startTime)
	hasStart := serr == nil && !start.IsZero() && !start.After(at)
	src, dst := server, client // the RST's sender and receiver
	if c.RST.From == heuristics.SideClient {
		src, dst = client, server
	}
	cb, sb := c.Flow.ClientBytes, c.Flow.ServerBytes
	cp, sp := c.Flow.ClientPackets, c.Flow.ServerPackets

	b = append(b, `{"@timestamp":`...)
	b = appendECSString(b, rstTime)
	b = append(b, `,"client":`...)
	b = appendEndpoint(b, client, true, cb, cp)
	b = append(b, `,"destination":`...)
	b = appendEndpoint(b, dst, false, 0, 0)
	b = append(b, `,"ecs":{"version":`...)
	b = appendECSString(b, ECSVersion)
	b = append(b, `},"event":{"action":"tcp-reset","category":["network"],"dataset":"rstscope.findings"`...)
	if hasStart && !clamped {
		b = append(b, `,"duration":`...)
		b = strconv.AppendInt(b, int64(at.Sub(start)), 10)
	}
	b = append(b, `,"end":`...)
	b = appendECSString(b, rstTime)
	b = append(b, `,"kind":"event","module":"rstscope","outcome":"failure","reason":`...)
	b = appendECSString(b, string(c.Cause))
	if hasStart {
		b = append(b, `,"start":`...)
		b = appendECSString(b, startTime)
	}
	if c.Cause == heuristics.CauseRefused {
		b = append(b, `,"type":["connection","denied"]}`...)
	} else {
		b = append(b, `,"type":["connection","end"]}`...)
	}
	q := c.Request
	if q != nil && q.Method != "" {
		b = append(b, `,"http":{"request":{"method":`...)
		b = appendECSString(b, q.Method)
		b = append(b, "}}"...)
	}
	b = append(b, `,"message":`...)
	b = appendECSString(b, c.Summary)
	b = append(b, `,"network":{"bytes":`...)
	b = strconv.AppendUint(b, cb+sb, 10)
	b = append(b, `,"iana_number":"6","packets":`...)
	b = strconv.AppendUint(b, cp+sp, 10)
	b = append(b, `,"transport":"tcp","type":`...)
	if client.Addr().Is6() {
		b = append(b, `"ipv6"`...)
	} else {
		b = append(b, `"ipv4"`...)
	}
	if v := c.Flow.VLAN; v != 0 {
		b = append(b, `,"vlan":{"id":"`...)
		b = strconv.AppendUint(b, uint64(v), 10)
		b = append(b, `"}`...)
	}
	b = append(b, `},"observer":{`...)
	if e.obs.Hostname != "" {
		b = append(b, `"hostname":`...)
		b = appendJSONString(b, e.obs.Hostname)
		b = append(b, ',')
	}
	if e.obs.Interface != "" {
		b = append(b, `"ingress":{"interface":{"name":`...)
		b = appendJSONString(b, e.obs.Interface)
		b = append(b, `}},`...)
	}
	b = append(b, `"product":"rstscope","type":"sensor","vendor":"rstscope"`...)
	if e.obs.Version != "" {
		b = append(b, `,"version":`...)
		b = appendJSONString(b, e.obs.Version)
	}
	b = append(b, `},"related":{"ip":[`...)
	b = appendJSONString(b, client.Addr().String())
	b = append(b, ',')
	b = appendJSONString(b, server.Addr().String())
	b = append(b, `]},"rstscope":`...)
	e.rec = e.enc.appendFinding(e.rec[:0], &c)
	var warnings []string
	if clamped {
		// A time RFC 3339 cannot write is clamped; the document says so,
		// as the json and ndjson totals do.
		var one tally
		one.add(f)
		warnings = one.warnings(nil)
	}
	b, rest, err := appendSortedJSON(b, e.rec, warnings, &e.sorted)
	if err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("the contract's JSON does not read back: %v", err)
	}
	b = append(b, `,"server":`...)
	b = appendEndpoint(b, server, true, sb, sp)
	b = append(b, `,"source":`...)
	b = appendEndpoint(b, src, false, 0, 0)
	if q != nil && q.SNI != "" {
		b = append(b, `,"tls":{"client":{"server_name":`...)
		b = appendECSString(b, q.SNI)
		b = append(b, "}}"...)
	}
	if q != nil {
		domain, hasDomain := reencoded(q.Host), q.Host != ""
		if host, _, err := net.SplitHostPort(domain); err == nil {
			domain = host // url.domain has no port
		}
		if hasDomain || q.Path != "" {
			b = append(b, `,"url":{`...)
			if hasDomain {
				b = append(b, `"domain":`...)
				b = appendECSString(b, domain)
				if q.Path != "" {
					b = append(b, ',')
				}
			}
			if q.Path != "" {
				b = append(b, `"path":`...)
				b = appendECSString(b, q.Path)
			}
			b = append(b, '}')
		}
	}
	return append(b, '}'), nil
}

// reparseAddrPort is ap as the contract prints it, read back and parsed.
func reparseAddrPort(ap netip.AddrPort) (netip.AddrPort, error) {
	t, _ := ap.MarshalText() // never fails
	return netip.ParseAddrPort(reencoded(string(t)))
}

// appendEndpoint appends an ECS source/destination/client/server object;
// bytes and packets when withCounts.
func appendEndpoint(b []byte, ap netip.AddrPort, withCounts bool, bytes, packets uint64) []byte {
	b = append(b, '{')
	if withCounts {
		b = append(b, `"bytes":`...)
		b = strconv.AppendUint(b, bytes, 10)
		b = append(b, ',')
	}
	b = append(b, `"ip":`...)
	b = appendJSONString(b, ap.Addr().String())
	if withCounts {
		b = append(b, `,"packets":`...)
		b = strconv.AppendUint(b, packets, 10)
	}
	b = append(b, `,"port":`...)
	b = strconv.AppendUint(b, uint64(ap.Port()), 10)
	return append(b, '}')
}

// reencoded is s as it reads back from its JSON string: each invalid
// UTF-8 byte, written as \ufffd, comes back as U+FFFD.
func reencoded(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// appendECSString appends s as encoding/json (HTML left as is) writes it
// once read back from its JSON string (see reencoded).
func appendECSString(b []byte, s string) []byte { return appendJSONString(b, reencoded(s)) }

// appendSortedJSON appends the JSON value src begins with (compact, as
// appendFindingJSON writes it) as encoding/json writes it once decoded
// into maps (numbers kept as written): every object's keys in sorted
// order, strings as re-encoded (\ufffd as the character). warnings, when
// not nil, joins the outermost object under "warnings". It returns what
// follows the value in src. so is the sorter's scratch (sortedJSON).
func appendSortedJSON(b, src []byte, warnings []string, so *sortedJSON) ([]byte, []byte, error) {
	if len(src) == 0 {
		return b, src, errors.New("unexpected end")
	}
	switch src[0] {
	case '{':
		// One pass: each member's value is written (sorted within) where
		// b ends, then the members are put in key order. (Skipping each
		// value to find its end first, and sorting every object's keys
		// anew, were two thirds of an ecs document's cost.)
		var buf [32]sortedMember
		ms := buf[:0]
		mark := len(b)
		src = src[1:]
		for len(src) > 0 && src[0] != '}' {
			if len(ms) > 0 {
				if src[0] != ',' {
					return b, src, errors.New("expected a comma")
				}
				src = src[1:]
			}
			k, rest, err := skipJSON(src)
			if err != nil || len(rest) == 0 || rest[0] != ':' || k[0] != '"' {
				return b, src, errors.New("bad member")
			}
			start := len(b)
			if b, src, err = appendSortedJSON(b, rest[1:], nil, so); err != nil {
				return b, src, err
			}
			ms = append(ms, sortedMember{key: k, start: start - mark, end: len(b) - mark})
		}
		if len(src) == 0 {
			return b, src, errors.New("unexpected end")
		}
		if warnings != nil {
			ms = append(ms, sortedMember{key: []byte(`"warnings"`), start: -1})
		}
		so.sort(ms)
		so.tmp = append(so.tmp[:0], b[mark:]...)
		b = append(b[:mark], '{')
		for i, m := range ms {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, m.key...)
			b = append(b, ':')
			if m.start < 0 { // warnings
				b = append(b, '[')
				for j, w := range warnings {
					if j > 0 {
						b = append(b, ',')
					}
					b = appendJSONString(b, w)
				}
				b = append(b, ']')
				continue
			}
			b = append(b, so.tmp[m.start:m.end]...)
		}
		return append(b, '}'), src[1:], nil
	case '[':
		src = src[1:]
		b = append(b, '[')
		for n := 0; len(src) > 0 && src[0] != ']'; n++ {
			if n > 0 {
				if src[0] != ',' {
					return b, src, errors.New("expected a comma")
				}
				src = src[1:]
				b = append(b, ',')
			}
			var err error
			if b, src, err = appendSortedJSON(b, src, nil, so); err != nil {
				return b, src, err
			}
		}
		if len(src) == 0 {
			return b, src, errors.New("unexpected end")
		}
		return append(b, ']'), src[1:], nil
	case '"':
		tok, rest, err := skipJSON(src)
		if err != nil {
			return b, src, err
		}
		// The only escape whose character encoding/json writes as itself
		// is \ufffd (the others are controls, quotes, backslashes and
		// U+2028/9, escaped again).
		for {
			i := bytes.Index(tok, []byte(`\ufffd`))
			if i < 0 || escapedAt(tok, i) {
				if i < 0 {
					break
				}
				b = append(b, tok[:i+1]...)
				tok = tok[i+1:]
				continue
			}
			b = append(b, tok[:i]...)
			b = append(b, "\uFFFD"...)
			tok = tok[i+6:]
		}
		return append(b, tok...), rest, nil
	}
	tok, rest, err := skipJSON(src) // number, true, false, null: as written
	return append(b, tok...), rest, err
}

// sortedMember is an object's member for appendSortedJSON: its quoted
// key and where its value lies (from the object's start in the output;
// start -1: the warnings).
type sortedMember struct {
	key        []byte
	start, end int
	at         int // its place before sorting (sortedJSON.sort's)
}

// sortedJSON is appendSortedJSON's scratch, kept by a writer: the values
// of the object being reordered, and the orders of the key sequences
// seen. The contract writes each kind of object with its keys in one
// order (some left out when empty), so a sequence seen before is put in
// order by the permutation found then, checked in one pass, instead of
// sorted again.
type sortedJSON struct {
	tmp   []byte
	perms map[uint64][]uint8
	by    []sortedMember
}

// maxPerms bounds the orders kept (a finding has a few dozen sequences).
const maxPerms = 4096

// sort puts ms in key order. (Our keys are plain ASCII names: their
// quoted forms sort as the names do.)
func (so *sortedJSON) sort(ms []sortedMember) {
	if len(ms) < 2 || len(ms) > 255 {
		slices.SortFunc(ms, cmpMember)
		return
	}
	// The sequence's hash, from each key's length and its first and last
	// characters: a collision only costs a sort (the order found is
	// checked), and the contract's sequences differ there.
	h := uint64(len(ms))
	for _, m := range ms {
		k := m.key // quoted, at least ""
		h = (h ^ uint64(len(k))<<16 ^ uint64(k[1])<<8 ^ uint64(k[len(k)-2])) * 1099511628211
	}
	if p, ok := so.perms[h]; ok && len(p) == len(ms) {
		so.by = append(so.by[:0], ms...)
		for i, j := range p {
			ms[i] = so.by[j]
		}
		if slices.IsSortedFunc(ms, cmpMember) {
			return
		}
		copy(ms, so.by) // another sequence with the same hash
	}
	for i := range ms {
		ms[i].at = i
	}
	slices.SortFunc(ms, cmpMember)
	p := make([]uint8, len(ms))
	for i := range ms {
		p[i] = uint8(ms[i].at)
	}
	if so.perms == nil {
		so.perms = make(map[uint64][]uint8)
	}
	if len(so.perms) < maxPerms {
		so.perms[h] = p
	}
}

func cmpMember(x, y sortedMember) int { return bytes.Compare(x.key, y.key) }

// escapedAt reports whether the character at tok[i] is escaped: an odd
// number of backslashes precedes it.
func escapedAt(tok []byte, i int) bool {
	n := 0
	for i > 0 && tok[i-1] == '\\' {
		n++
		i--
	}
	return n%2 == 1
}

// skipJSON splits the value src begins with (a string, number, literal,
// or a whole object or array) from what follows.
func skipJSON(src []byte) (tok, rest []byte, err error) {
	if len(src) == 0 {
		return nil, src, errors.New("unexpected end")
	}
	switch src[0] {
	case '"':
		for i := 1; i < len(src); {
			j := bytes.IndexByte(src[i:], '"')
			if j < 0 {
				break
			}
			if i += j; !escapedAt(src, i) {
				return src[:i+1], src[i+1:], nil
			}
			i++
		}
		return nil, src, errors.New("unterminated string")
	case '{', '[':
		depth := 0
		for i := 0; i < len(src); i++ {
			switch src[i] {
			case '"':
				t, _, err := skipJSON(src[i:])
				if err != nil {
					return nil, src, err
				}
				i += len(t) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return src[:i+1], src[i+1:], nil
				}
			}
		}
		return nil, src, errors.New("unterminated " + string(src[0]))
	}
	i := 0
	for i < len(src) && src[i] != ',' && src[i] != '}' && src[i] != ']' && src[i] != ':' {
		i++
	}
	if i == 0 {
		return nil, src, errors.New("unexpected " + string(src[0]))
	}
	return src[:i], src[i:], nil
}
