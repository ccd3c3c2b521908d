package main

import (
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"
	"github.com/klauspost/compress/zstd"
)

// doc mirrors the JSON contract (DESIGN.md section 4) for the tests: if a
// field name changes in the code, these tests stop finding it.
type doc struct {
	Tool    string   `json:"tool"`
	Version string   `json:"version"`
	Inputs  []string `json:"inputs"`
	Stats   struct {
		Packets         uint64 `json:"packets"`
		TCPPackets      uint64 `json:"tcp_packets"`
		TCPFlows        uint64 `json:"tcp_flows"`
		RSTPackets      uint64 `json:"rst_packets"`
		Findings        uint64 `json:"findings"`
		Undecodable     uint64 `json:"undecodable"`
		TruncatedInput  bool   `json:"truncated_input"`
		DroppedByKernel uint64 `json:"dropped_by_kernel"`
	} `json:"stats"`
	ByCause  map[string]int `json:"by_cause"`
	Warnings []string       `json:"warnings"`
	Findings []finding      `json:"findings"`
}

type finding struct {
	ID         int    `json:"id"`
	Cause      string `json:"cause"`
	Origin     string `json:"origin"`
	Confidence string `json:"confidence"`
	Summary    string `json:"summary"`
	Flow       struct {
		Client    string `json:"client"`
		Server    string `json:"server"`
		RolesFrom string `json:"roles_from"`
		History   string `json:"history"`
		ConnState string `json:"conn_state"`
	} `json:"flow"`
	RST struct {
		Time     string   `json:"time"`
		Packet   uint64   `json:"packet"`
		From     string   `json:"from"`
		Count    int      `json:"count"`
		TTL      int      `json:"ttl"`
		SeqCheck string   `json:"seq_check"`
		Frames   []uint64 `json:"frames"`
	} `json:"rst"`
	Request *struct {
		Method string `json:"method"`
		Path   string `json:"path"`
		Host   string `json:"host"`
	} `json:"request"`
	Stage         string   `json:"stage"`
	Errno         string   `json:"errno"`
	ConsequenceOf int      `json:"consequence_of"`
	Alternatives  []string `json:"alternatives"`
	Advice        string   `json:"advice"`
	Evidence      []struct {
		Signal string   `json:"signal"`
		Detail string   `json:"detail"`
		Frames []uint64 `json:"frames"`
	} `json:"evidence"`
}

// frames gives every RST frame of the finding.
func (f *finding) frames() []uint64 {
	if len(f.RST.Frames) > 0 {
		return f.RST.Frames
	}
	return []uint64{f.RST.Packet}
}

func (f *finding) hasSignal(s string) bool {
	for _, e := range f.Evidence {
		if e.Signal == s {
			return true
		}
	}
	return false
}

// runCLI runs rstscope in-process and returns exit code, stdout, stderr.
func runCLI(t *testing.T, stdin io.Reader, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	code := run(args, stdin, &out, &errb, make(chan struct{}))
	return code, out.String(), errb.String()
}

// runJSON runs rstscope with --format json on the given args and decodes
// the document; it fails the test on a non-zero exit.
func runJSON(t *testing.T, args ...string) doc {
	t.Helper()
	code, out, errs := runCLI(t, nil, append(args, "--format", "json")...)
	if code != 0 {
		t.Fatalf("rstscope %v: exit %d, stderr: %s", args, code, errs)
	}
	var d doc
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("rstscope %v: bad JSON: %v\n%s", args, err, out)
	}
	return d
}

// readTSV reads a tab-separated file with a header row into maps.
func readTSV(t *testing.T, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("corpus table: %v", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comma = '\t'
	r.LazyQuotes = true
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []map[string]string
	for _, row := range rows[1:] {
		m := map[string]string{}
		for i, h := range rows[0] {
			if i < len(row) {
				m[h] = row[i]
			}
		}
		out = append(out, m)
	}
	return out
}

func atoi(t *testing.T, s string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	if err != nil {
		t.Fatalf("bad number %q in corpus table", s)
	}
	return n
}

const corpusDir = "pcaps/corpus"

// icmpQuotedTCP lists frames that tshark counts as TCP (its tcp_packets
// column) because an ICMP error quotes a TCP header; they are not TCP
// segments and rstscope does not track them.
var icmpQuotedTCP = map[string]uint64{
	"ndpi/alexa-app.pcapng": 2, // frames 56 and 115: ICMP redirects
}

// TestCorpus_everyRSTFound reads every capture of the corpus manifest and
// checks that rstscope finds exactly the RSTs tshark counts
// (tcp.flags.reset==1), that every TCP frame decodes, and that every RST
// frame lands in exactly one finding.
func TestCorpus_everyRSTFound(t *testing.T) {
	rows := readTSV(t, filepath.Join(corpusDir, "MANIFEST.tsv"))
	if len(rows) < 90 {
		t.Fatalf("manifest has %d rows, want the whole corpus", len(rows))
	}
	for _, row := range rows {
		file := row["file"]
		t.Run(file, func(t *testing.T) {
			path := filepath.Join(corpusDir, file)
			d := runJSON(t, "-r", path)
			if want := atoi(t, row["tcp_rst_count"]); d.Stats.RSTPackets != want {
				t.Errorf("rst_packets: got %d, want %d (tshark tcp.flags.reset==1)", d.Stats.RSTPackets, want)
			}
			if want := atoi(t, row["tcp_packets"]) - icmpQuotedTCP[file]; d.Stats.TCPPackets != want {
				t.Errorf("tcp_packets: got %d, want %d (tshark)", d.Stats.TCPPackets, want)
			}
			if want := atoi(t, row["packets"]); d.Stats.Packets != want {
				t.Errorf("packets: got %d, want %d", d.Stats.Packets, want)
			}
			if d.Stats.Undecodable != 0 {
				t.Errorf("undecodable: got %d frames, want 0", d.Stats.Undecodable)
			}
			// rst.count covers a whole burst; rst.frames lists (up to a
			// cap) which frames: each listed frame must be in one finding.
			seen := map[uint64]int{}
			var inFindings uint64
			for _, f := range d.Findings {
				inFindings += uint64(f.RST.Count)
				for _, fr := range f.frames() {
					seen[fr]++
				}
			}
			for fr, n := range seen {
				if n != 1 {
					t.Errorf("RST frame %d is in %d findings, want exactly 1", fr, n)
				}
			}
			if inFindings != d.Stats.RSTPackets {
				t.Errorf("RST frames in findings: got %d, want %d (every RST in exactly one finding)", inFindings, d.Stats.RSTPackets)
			}
		})
	}
}

// TestCorpus_whoReset compares, for every corpus flow with a RST, the
// flow's roles and the side that sent the first RST with the corpus table
// (tshark facts: SYN sender, frame of the first RST and its sender).
func TestCorpus_whoReset(t *testing.T) {
	rows := readTSV(t, filepath.Join(corpusDir, "RST_FLOWS.tsv"))
	docs := map[string]doc{}
	agree, total := 0, 0
	for _, row := range rows {
		file := row["file"]
		d, ok := docs[file]
		if !ok {
			d = runJSON(t, "-r", filepath.Join(corpusDir, file))
			docs[file] = d
		}
		frame := atoi(t, row["first_rst_frame"])
		f := findingWithFrame(d.Findings, frame)
		total++
		if f == nil {
			t.Errorf("%s: no finding holds RST frame %d", file, frame)
			continue
		}
		// For port-guess rows the corpus took the higher port as the
		// client, as rstscope does without a handshake.
		wantFrom := map[string]string{
			"syn_sender": "client", "syn_receiver": "server",
			"high_port_side": "client", "low_port_side": "server",
		}[row["first_rst_by"]]
		ok = true
		if f.RST.From != wantFrom {
			t.Errorf("%s stream %s: RST frame %d from %s, want %s (%s)", file, row["stream"], frame, f.RST.From, wantFrom, row["dir_basis"])
			ok = false
		}
		if row["dir_basis"] != "port-guess" && (f.Flow.Client != row["orig"] && f.Flow.Client != bracket(row["orig"])) {
			t.Errorf("%s stream %s: client %s, want %s (SYN sender)", file, row["stream"], f.Flow.Client, row["orig"])
			ok = false
		}
		if ok {
			agree++
		}
	}
	t.Logf("who-reset agreement with the corpus table: %d of %d flows", agree, total)
}

// bracket turns a tshark-style IPv6 "addr:port" into "[addr]:port".
func bracket(s string) string {
	i := strings.LastIndexByte(s, ':')
	if i < 0 || strings.Count(s, ":") < 2 {
		return s
	}
	return "[" + s[:i] + "]" + s[i:]
}

func findingWithFrame(fs []finding, frame uint64) *finding {
	for i := range fs {
		for _, fr := range fs[i].frames() {
			if fr == frame {
				return &fs[i]
			}
		}
	}
	return nil
}

// TestCorpus_zeekBaselines checks roles and who-reset against Zeek's own
// conn.log baselines listed in the manifest (zeek_rst_flows).
func TestCorpus_zeekBaselines(t *testing.T) {
	rows := readTSV(t, filepath.Join(corpusDir, "MANIFEST.tsv"))
	checked := 0
	for _, row := range rows {
		if row["zeek_rst_flows"] == "" {
			continue
		}
		d := runJSON(t, "-r", filepath.Join(corpusDir, row["file"]))
		for _, entry := range strings.Split(row["zeek_rst_flows"], ";") {
			entry = strings.TrimSpace(entry)
			tuple, state, ok := strings.Cut(entry, "=")
			if !ok {
				continue
			}
			orig, resp, _ := strings.Cut(tuple, ">")
			st, hist, _ := strings.Cut(state, "/")
			checked++
			var fs []finding
			for _, f := range d.Findings {
				if f.Flow.Client == orig && f.Flow.Server == resp {
					fs = append(fs, f)
				}
			}
			if len(fs) == 0 {
				t.Errorf("%s: zeek %s: no finding for client %s server %s", row["file"], entry, orig, resp)
				continue
			}
			wantClientRST := strings.Contains(hist, "R")
			wantServerRST := strings.Contains(hist, "r")
			gotClient, gotServer := false, false
			for _, f := range fs {
				gotClient = gotClient || f.RST.From == "client"
				gotServer = gotServer || f.RST.From == "server"
			}
			// Presence, not absence: Zeek starts a new connection when
			// packets reuse the tuple after a RST (modbus-and-non-modbus:
			// ShR then Dr), which rstscope keeps in the same flow.
			if (wantClientRST && !gotClient) || (wantServerRST && !gotServer) {
				t.Errorf("%s: zeek %s: RSTs from client=%v server=%v, want client=%v server=%v", row["file"], entry, gotClient, gotServer, wantClientRST, wantServerRST)
			}
			exact := false
			for _, f := range fs {
				exact = exact || (f.Flow.History == hist && f.Flow.ConnState == st)
			}
			if !exact {
				t.Errorf("%s: zeek %s: no finding with history %s and conn_state %s (got %s %s)", row["file"], entry, hist, st, fs[0].Flow.History, fs[0].Flow.ConnState)
			}
			if st == "REJ" && fs[0].Cause != "refused" {
				t.Errorf("%s: zeek %s (REJ): cause %s, want refused", row["file"], entry, fs[0].Cause)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no Zeek baseline rows found in the manifest")
	}
	t.Logf("zeek baselines checked: %d flows", checked)
}

// TestBadInput: every bad input gives one line on stderr, the right exit
// code, and never a Go stack trace.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	notCapture := filepath.Join(dir, "notes.txt")
	os.WriteFile(notCapture, []byte("this is not a capture file\n"), 0o644)
	empty := filepath.Join(dir, "empty.pcap")
	os.WriteFile(empty, nil, 0o644)
	noCaptures := t.TempDir() // -r of a directory reads its captures: none here
	os.WriteFile(filepath.Join(noCaptures, "notes.txt"), []byte("notes\n"), 0o644)
	tests := []struct {
		name     string
		args     []string
		code     int
		contains string
	}{
		{"missing file", []string{"-r", filepath.Join(dir, "nope.pcap")}, 1, "no such file"},
		{"directory without captures", []string{"-r", noCaptures}, 1, "no capture files in the directory"},
		{"directory with an empty capture", []string{"-r", dir}, 1, "empty file"},
		{"pattern matching nothing", []string{"-r", filepath.Join(dir, "*.pcapng")}, 1, "no file matches"},
		{"not a capture", []string{"-r", notCapture}, 1, "not a capture file"},
		{"empty file", []string{"-r", empty}, 1, "empty"},
		{"no input", nil, 2, "nothing to read"},
		{"unknown flag", []string{"--bogus"}, 2, "unknown flag"},
		{"unknown format", []string{"-r", empty, "--format", "xml"}, 2, "unknown format"},
		{"unknown cause", []string{"-r", empty, "--cause", "gremlins"}, 2, "unknown cause"},
		{"bad explain", []string{"--explain", "gremlins"}, 2, "unknown cause"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := runCLI(t, nil, tt.args...)
			if code != tt.code {
				t.Errorf("exit: got %d, want %d (stderr %q)", code, tt.code, errs)
			}
			if !strings.Contains(strings.ToLower(errs), tt.contains) {
				t.Errorf("stderr: got %q, want it to mention %q", errs, tt.contains)
			}
			if strings.Contains(errs, "goroutine ") || strings.Contains(errs, "panic") {
				t.Errorf("stderr has a stack trace: %s", errs)
			}
			if tt.code == 1 && strings.Count(strings.TrimSpace(errs), "\n") != 0 {
				t.Errorf("stderr: got %d lines, want one: %q", strings.Count(errs, "\n"), errs)
			}
		})
	}
}

// TestTruncatedCapture: a capture cut in the middle of a packet yields the
// findings up to the cut, a warning, truncated_input, and exit 0.
func TestTruncatedCapture(t *testing.T) {
	src := filepath.Join(corpusDir, "ndpi/webex.pcap")
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	whole := runJSON(t, "-r", src)
	cut := filepath.Join(t.TempDir(), "cut.pcap")
	if err := os.WriteFile(cut, data[:len(data)*2/3+7], 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, nil, "-r", cut, "--format", "json")
	if code != 0 {
		t.Fatalf("exit: got %d, want 0 (stderr %q)", code, errs)
	}
	if !strings.Contains(errs, "warning") {
		t.Errorf("stderr: got %q, want a warning about the cut", errs)
	}
	var d doc
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	if !d.Stats.TruncatedInput {
		t.Error("truncated_input: got false, want true")
	}
	if len(d.Warnings) != 1 || !strings.Contains(d.Warnings[0], "truncated") {
		t.Errorf("warnings: got %q, want the cut named", d.Warnings)
	}
	if d.Stats.Packets == 0 || d.Stats.Packets >= whole.Stats.Packets {
		t.Errorf("packets: got %d, want between 1 and %d", d.Stats.Packets, whole.Stats.Packets-1)
	}
	if len(d.Findings) == 0 || len(d.Findings) > len(whole.Findings) {
		t.Errorf("findings: got %d, want 1..%d", len(d.Findings), len(whole.Findings))
	}
}

// curatedCorpus is the hand analysis in the corpus table (RST_FLOWS.tsv,
// curated_rst_origin and curated_note): which RSTs a device on the path
// forged and which the endpoint sent.
var curatedCorpus = []struct {
	file   string
	frame  uint64
	origin string
	why    string
}{
	{"zeek/Traces/tcp/rst-inject-rae.pcap", 2, "middlebox", "TTL 46 vs the server's 49, IP ID copied from the SYN, reserved bits, seq 0"},
	{"zeek/Traces/tcp/rst-inject-rae.pcap", 7, "server", "TTL 49 and IP ID continuing the server's sequence"},
	{"zeek/Traces/tcp/rst-inject-rae.pcap", 9, "server", "as frame 7"},
	{"suricata-verify/tls/tls-fin-close-data-01/debug-s13.pcap", 22, "middlebox", "TTL 59 vs the server's 123, IP ID 0"},
	{"suricata-verify/tls/tls-fin-close-data-01/debug-s13.pcap", 23, "middlebox", "as frame 22"},
	{"suricata-verify/tls/tls-fin-close-data-01/debug-s13.pcap", 24, "server", "TTL 123, the server host's own RST"},
	{"suricata-verify/bug-5437-02/input.pcap", 41, "server", "one server RST mirrored twice through ERSPAN (TTL 64 then 63, same IP ID): not injection"},
	{"suricata-verify/bug-5437-02/input.pcap", 42, "server", "the mirror copy of frame 41"},
}

// TestCorpus_curated checks origins against curatedCorpus.
func TestCorpus_curated(t *testing.T) {
	cases := curatedCorpus
	docs := map[string]doc{}
	for _, c := range cases {
		d, ok := docs[c.file]
		if !ok {
			d = runJSON(t, "-r", filepath.Join(corpusDir, c.file))
			docs[c.file] = d
		}
		f := findingWithFrame(d.Findings, c.frame)
		if f == nil {
			t.Errorf("%s frame %d: no finding", c.file, c.frame)
			continue
		}
		if f.Origin != c.origin {
			t.Errorf("%s frame %d: origin %s, want %s (%s): %s", c.file, c.frame, f.Origin, c.origin, c.why, f.Summary)
		}
	}
}

// TestStdin: "-r -" reads the capture from standard input, gzip'd too.
func TestStdin(t *testing.T) {
	path := filepath.Join(corpusDir, "zeek/Traces/pop3/pop3.pcap")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := runJSON(t, "-r", path)
	code, out, errs := runCLI(t, bytes.NewReader(data), "-r", "-", "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got doc
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.Stats.RSTPackets != want.Stats.RSTPackets || len(got.Findings) != len(want.Findings) || got.Stats.Packets != want.Stats.Packets {
		t.Errorf("stdin: got %d packets %d RSTs %d findings, want %d %d %d", got.Stats.Packets, got.Stats.RSTPackets, len(got.Findings),
			want.Stats.Packets, want.Stats.RSTPackets, len(want.Findings))
	}
}

// TestCompressedFiles: a capture compressed with gzip or zstd gives the
// findings of the plain file, however it is read: named, or on standard
// input from the file (decompressed ahead, aheadReader) or from a stream
// that is not a file (decompressed where it is read).
func TestCompressedFiles(t *testing.T) {
	const plain = "pcaps/demo.pcap"
	data, err := os.ReadFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(data)
	zw.Close()
	var zs bytes.Buffer
	enc, err := zstd.NewWriter(&zs)
	if err != nil {
		t.Fatal(err)
	}
	enc.Write(data)
	enc.Close()
	want := runJSON(t, "-r", plain)
	if len(want.Findings) == 0 {
		t.Fatal("the plain capture has no findings")
	}
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		data []byte
	}{{"demo.pcap.gz", gz.Bytes()}, {"demo.pcap.zst", zs.Bytes()}} {
		path := filepath.Join(dir, c.name)
		if err := os.WriteFile(path, c.data, 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, how := range []struct {
			name  string
			stdin io.Reader
			arg   string
		}{{"named", nil, path}, {"stdin_file", f, "-"}, {"stdin_pipe", io.MultiReader(bytes.NewReader(c.data)), "-"}} {
			code, out, errs := runCLI(t, how.stdin, "-r", how.arg, "--format", "json")
			if code != 0 {
				t.Fatalf("%s %s: exit %d: %s", c.name, how.name, code, errs)
			}
			var got doc
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatal(err)
			}
			if got.Stats.Packets != want.Stats.Packets || len(got.Findings) != len(want.Findings) {
				t.Fatalf("%s %s: %d packets, %d findings; want %d, %d", c.name, how.name, got.Stats.Packets, len(got.Findings), want.Stats.Packets, len(want.Findings))
			}
			for i, g := range got.Findings {
				if w := want.Findings[i]; g.Cause != w.Cause || g.Origin != w.Origin || g.Summary != w.Summary {
					t.Errorf("%s %s: finding %d: %s/%s, want %s/%s", c.name, how.name, i+1, g.Cause, g.Origin, w.Cause, w.Origin)
				}
			}
		}
	}
}

// TestMaxFlows: a full table makes room by ending closed (then half-open
// or long-silent) flows early; every RST is still in a finding, and the
// JSON and stderr both warn. One flow table (--shards 1): with shards,
// each holds --max-flows/N, so which flows a full table ends differs.
func TestMaxFlows(t *testing.T) {
	all := runJSON(t, "-r", "pcaps/demo.pcap")
	code, out, errs := runCLI(t, nil, "-r", "pcaps/demo.pcap", "--max-flows", "3", "--format", "json", "--shards", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var d doc
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Findings) != int(d.Stats.RSTPackets) || d.Stats.RSTPackets != 9 {
		t.Errorf("findings %d, rst_packets %d: want every one of the 9 RSTs in a finding", len(d.Findings), d.Stats.RSTPackets)
	}
	for i, f := range d.Findings {
		if w := all.Findings[i]; f.Cause != w.Cause || f.Origin != w.Origin {
			t.Errorf("finding %d: got %s/%s with 3 flows held, want %s/%s as with all held", i+1, f.Cause, f.Origin, w.Cause, w.Origin)
		}
	}
	if len(d.Warnings) != 1 || !strings.Contains(d.Warnings[0], "--max-flows 3") || !strings.Contains(errs, "--max-flows 3") {
		t.Errorf("warnings: got %q (stderr %q), want --max-flows named in both", d.Warnings, errs)
	}
}

// TestCorpus_pcapngSameFindings: every classic pcap of the corpus,
// rewritten as pcapng (pcapgo's writer: a section, an interface with
// nanosecond timestamps, enhanced packet blocks), gives the same report
// byte for byte but for the input's name: rstscope's pcapng reader
// (capture.ngRecordReader, pumped in place) and its pcap reader see the
// packets and times on 80-odd captures of real traffic. (The corpus's
// times are mostly whole microseconds and few of its frames are cut by a
// snaplen: nanoseconds and original lengths are checked by capture's
// TestNgRecordReader_* and TestPump_sameAsNext.)
func TestCorpus_pcapngSameFindings(t *testing.T) {
	var files []string
	filepath.WalkDir("pcaps/corpus", func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, path)
		}
		return err
	})
	dir := t.TempDir()
	converted := 0
	for _, path := range files {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		r, err := pcapgo.NewReader(bytes.NewReader(raw))
		if err != nil {
			continue // not a classic pcap
		}
		var ng bytes.Buffer
		w, err := pcapgo.NewNgWriter(&ng, r.LinkType())
		if err != nil {
			t.Fatal(err)
		}
		for {
			data, ci, err := r.ReadPacketData()
			if err != nil {
				break // the end, or a cut record: both files end there
			}
			ci.InterfaceIndex = 0
			if err := w.WritePacket(ci, data); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, strings.ReplaceAll(path, "/", "_")+"ng")
		if err := os.WriteFile(out, ng.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		code, want, wantErr := runCLI(t, nil, "-r", path, "--format", "json")
		code2, got, gotErr := runCLI(t, nil, "-r", out, "--format", "json")
		if code != code2 {
			t.Errorf("%s: exit %d as pcap, %d as pcapng (%s / %s)", path, code, code2, wantErr, gotErr)
			continue
		}
		if strings.Contains(wantErr, "truncated") {
			continue // the pcapng holds only the records before the cut
		}
		if got = strings.ReplaceAll(got, out, path); got != want {
			t.Errorf("%s: the report differs as pcapng:\n%s", path, firstDiff(want, got))
		}
		converted++
	}
	if converted < 60 {
		t.Errorf("%d corpus captures compared, want 60 or more", converted)
	}
	t.Logf("%d corpus captures read the same as pcap and as pcapng", converted)
}

// firstDiff shows where two texts part, with some context.
func firstDiff(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	lo := max(0, i-200)
	return fmt.Sprintf("pcap:   ...%s\npcapng: ...%s", a[lo:min(len(a), i+200)], b[lo:min(len(b), i+200)])
}
