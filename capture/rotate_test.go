package capture

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
)

var rotateT0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// rotPacket is an Ethernet frame of 100 bytes (a pcap record of 116) at t;
// its Index is written into the frame so the files can be read back.
func rotPacket(i int, t time.Time) *Packet {
	frame := make([]byte, 100)
	frame[0], frame[1] = byte(i>>8), byte(i)
	return &Packet{Index: uint64(i), Time: t, LinkType: 1, Frame: frame, CapLen: 100, WireLen: 100}
}

// readIndexes gives the Index of every record in a pcap file, in order.
func readIndexes(t *testing.T, path string) []int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return indexesIn(t, f, path)
}

// indexesIn gives the Index of every record of the pcap r (named name).
func indexesIn(t *testing.T, r io.Reader, name string) []int {
	t.Helper()
	pr, err := pcapgo.NewReader(r)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var out []int
	for {
		data, _, err := pr.ReadPacketData()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, int(data[0])<<8|int(data[1]))
	}
}

// dirFiles lists the names in dir, sorted.
func dirFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func seq(from, to int) []int {
	var s []int
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

func TestStrftime(t *testing.T) {
	at := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	for _, tc := range []struct{ layout, want string }{
		{"plain.pcap", "plain.pcap"},
		{"rst-%Y%m%d-%H%M%S.pcap", "rst-20260102-150405.pcap"},
		{"%F_%T", "2026-01-02_15:04:05"},
		{"%s", "1767366245"},
		{"%y %C %j %e %I%p %a %A %b %B %u %w", "26 20 002  2 03PM Fri Friday Jan January 5 5"},
		{"%D %R %z %Z %%", "01/02/26 15:04 +0000 UTC %"},
		{"%q stays, trailing %", "%q stays, trailing %"},
	} {
		if got := Strftime(tc.layout, at); got != tc.want {
			t.Errorf("Strftime(%q): got %q, want %q", tc.layout, got, tc.want)
		}
	}
}

// TestRotator_bySize: as tcpdump -C, a file past the size is closed before
// the next packet, and the next files are name1, name2, ...
func TestRotator_bySize(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "out.pcap")
	r, err := NewRotator(name, []int{1}, RotateOptions{Size: 1000}, rotateT0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 25; i++ {
		if err := r.WritePacket(rotPacket(i, rotateT0.Add(time.Duration(i)*time.Millisecond))); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	// 24 + 9*116 = 1068 > 1000: the 10th packet starts a new file.
	if got, want := dirFiles(t, dir), []string{"out.pcap", "out.pcap1", "out.pcap2"}; !slices.Equal(got, want) {
		t.Fatalf("files: got %q, want %q", got, want)
	}
	for f, want := range map[string][]int{"out.pcap": seq(1, 9), "out.pcap1": seq(10, 18), "out.pcap2": seq(19, 25)} {
		if got := readIndexes(t, filepath.Join(dir, f)); !slices.Equal(got, want) {
			t.Errorf("%s: got packets %v, want %v", f, got, want)
		}
	}
	if fi, _ := os.Stat(name); fi.Size() != 24+9*116 {
		t.Errorf("out.pcap: got %d bytes, want %d", fi.Size(), 24+9*116)
	}
}

// TestRotator_keepsLastN: with -C and -W 3 the names cycle through out0,
// out1, out2, so the disk holds the newest packets in three files.
func TestRotator_keepsLastN(t *testing.T) {
	dir := t.TempDir()
	r, err := NewRotator(filepath.Join(dir, "out"), []int{1}, RotateOptions{Size: 1000, Files: 3}, rotateT0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 50; i++ {
		if err := r.WritePacket(rotPacket(i, rotateT0.Add(time.Duration(i)*time.Millisecond))); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := dirFiles(t, dir), []string{"out0", "out1", "out2"}; !slices.Equal(got, want) {
		t.Fatalf("files: got %q, want %q", got, want)
	}
	// Files of 9 packets: 1-9 out0, 10-18 out1, 19-27 out2, 28-36 out0,
	// 37-45 out1, 46-50 out2.
	for f, want := range map[string][]int{"out0": seq(28, 36), "out1": seq(37, 45), "out2": seq(46, 50)} {
		if got := readIndexes(t, filepath.Join(dir, f)); !slices.Equal(got, want) {
			t.Errorf("%s: got packets %v, want %v", f, got, want)
		}
	}
	if got, want := r.Files(), []string{filepath.Join(dir, "out0"), filepath.Join(dir, "out1"), filepath.Join(dir, "out2")}; !slices.Equal(got, want) {
		t.Errorf("Files(): got %q, want %q", got, want)
	}
}

// TestRotator_byTime: as tcpdump -G 60, a packet 60 s or more after the
// file's first packet starts a new file named by strftime of its time;
// -W 2 then keeps the two newest.
func TestRotator_byTime(t *testing.T) {
	dir := t.TempDir()
	opts := RotateOptions{Every: time.Minute, Location: time.UTC}
	r, err := NewRotator(filepath.Join(dir, "rst-%H%M%S.pcap"), []int{1}, opts, rotateT0)
	if err != nil {
		t.Fatal(err)
	}
	at := func(s int) time.Time { return rotateT0.Add(time.Duration(s) * time.Second) }
	for i, s := range []int{1, 30, 60, 61, 90, 150, 400} {
		if err := r.WritePacket(rotPacket(i+1, at(s))); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	// The first file's period starts with its first packet (1 s), so the
	// packet at 60 s stays in it; 61 s starts the next.
	want := map[string][]int{
		"rst-050607.pcap": {1, 2, 3},
		"rst-050708.pcap": {4, 5},
		"rst-050837.pcap": {6},
		"rst-051247.pcap": {7},
	}
	var names []string
	for n := range want {
		names = append(names, n)
	}
	slices.Sort(names)
	if got := dirFiles(t, dir); !slices.Equal(got, names) {
		t.Fatalf("files: got %q, want %q", got, names)
	}
	for f, w := range want {
		if got := readIndexes(t, filepath.Join(dir, f)); !slices.Equal(got, w) {
			t.Errorf("%s: got packets %v, want %v", f, got, w)
		}
	}

	// -W 2: the same run keeps only the two newest files.
	dir = t.TempDir()
	opts.Files = 2
	r, err = NewRotator(filepath.Join(dir, "rst-%H%M%S.pcap"), []int{1}, opts, rotateT0)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range []int{1, 30, 60, 61, 90, 150, 400} {
		if err := r.WritePacket(rotPacket(i+1, at(s))); err != nil {
			t.Fatal(err)
		}
	}
	r.Close()
	if got, want := dirFiles(t, dir), []string{"rst-050837.pcap", "rst-051247.pcap"}; !slices.Equal(got, want) {
		t.Errorf("-G 60 -W 2: files: got %q, want %q", got, want)
	}
}

// TestRotator_sizeWithinPeriod: -G with -C numbers the size rotations of
// a period after its strftime name, from 1, and starts again at the next
// period.
func TestRotator_sizeWithinPeriod(t *testing.T) {
	dir := t.TempDir()
	opts := RotateOptions{Every: time.Hour, Size: 300, Location: time.UTC}
	r, err := NewRotator(filepath.Join(dir, "%H.pcap"), []int{1}, opts, rotateT0)
	if err != nil {
		t.Fatal(err)
	}
	// 24 + 3*116 > 300: three packets per file.
	for i := 1; i <= 7; i++ {
		if err := r.WritePacket(rotPacket(i, rotateT0.Add(time.Duration(i)*time.Second))); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.WritePacket(rotPacket(8, rotateT0.Add(2*time.Hour))); err != nil {
		t.Fatal(err)
	}
	r.Close()
	want := map[string][]int{"05.pcap": {1, 2, 3}, "05.pcap1": {4, 5, 6}, "05.pcap2": {7}, "07.pcap": {8}}
	if got := dirFiles(t, dir); len(got) != len(want) {
		t.Fatalf("files: got %q, want the 4 of %v", got, want)
	}
	for f, w := range want {
		if got := readIndexes(t, filepath.Join(dir, f)); !slices.Equal(got, w) {
			t.Errorf("%s: got packets %v, want %v", f, got, w)
		}
	}
}
