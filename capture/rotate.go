package capture

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// RotateOptions bounds -w output on disk with tcpdump's habits. The zero
// value writes one file.
type RotateOptions struct {
	// Size (tcpdump -C, in bytes here; the flag is in millions of bytes):
	// before a packet is written, a file already larger than Size is
	// closed and the next one opened. 0: no size limit.
	Size int64
	// Files (tcpdump -W) keeps the last Files files: with Size the names
	// cycle through Files numbered slots (name0, name1, ...) as tcpdump
	// does; with Every the oldest file is removed when a new one would
	// make Files+1 (tcpdump stops instead; a sensor keeps going).
	// 0: no limit.
	Files int
	// Every (tcpdump -G) starts a new file when a packet comes at least
	// Every after the current file's first packet, in packet time. The
	// name is passed through Strftime with that packet's time, so
	// "rst-%Y%m%d-%H%M%S.pcap" gives one file per period. 0: no time limit.
	Every time.Duration
	// Location for Strftime (tcpdump uses local time); nil means time.Local.
	Location *time.Location
}

// Rotator writes packets to a file named name, rotated per RotateOptions.
// Every file starts with its own header (pcap, or pcapng for several link
// types, as ExportWriter). Output is buffered: Flush pushes it to disk.
// It is not safe for concurrent use.
type Rotator struct {
	name      string
	linkTypes []int
	opts      RotateOptions
	digits    int // width of the -W slot number, as tcpdump's getWflagChars

	f       *os.File
	stream  io.Writer // NewStreamRotator's destination (no files, no rotation)
	isOpen  bool      // a file (or the stream) is being written
	bw      *bufio.Writer
	cw      countWriter
	ew      *ExportWriter
	current string
	count   int       // the -C slot number of the current file
	start   time.Time // packet time of the current file's first packet; zero until then
	named   time.Time // the time the current -G period's names are formatted with
	kept    []string  // files written by this Rotator, oldest first
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// NewRotator opens the first file (named with now for a -G name, as
// tcpdump names its first file by the start time) and writes its header.
// linkTypes are the Source's (see NewExportWriter).
func NewRotator(name string, linkTypes []int, opts RotateOptions, now time.Time) (*Rotator, error) {
	if opts.Size < 0 || opts.Files < 0 || opts.Every < 0 {
		return nil, fmt.Errorf("capture: rotate: negative limit")
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	r := &Rotator{name: name, linkTypes: linkTypes, opts: opts}
	if opts.Files > 1 && opts.Size > 0 {
		r.digits = len(strconv.Itoa(opts.Files - 1)) // slot numbers only with -C
	}
	r.named = now
	if err := r.open(r.fileName(now, 0)); err != nil {
		return nil, err
	}
	return r, nil
}

// NewStreamRotator writes packets to w, one capture with one header and
// no rotation (live -w -: findings' flows streamed to a pipe as they
// come). Close flushes but does not close w.
func NewStreamRotator(w io.Writer, linkTypes []int) (*Rotator, error) {
	r := &Rotator{name: "-", linkTypes: linkTypes, stream: w}
	if err := r.open("-"); err != nil {
		return nil, err
	}
	return r, nil
}

// fileName is tcpdump's MakeFilename: the name through strftime when -G
// is set, then the -C slot number, zero-padded to the -W width, unless
// both are zero.
func (r *Rotator) fileName(t time.Time, count int) string {
	name := r.name
	if r.opts.Every > 0 {
		name = Strftime(name, t.In(r.opts.Location))
	}
	if count == 0 && r.digits == 0 {
		return name
	}
	return fmt.Sprintf("%s%0*d", name, r.digits, count)
}

// open closes the current file, if any, and starts name.
func (r *Rotator) open(name string) error {
	if err := r.closeFile(); err != nil {
		return err
	}
	var dst io.Writer = r.stream
	if dst == nil {
		f, err := os.Create(name)
		if err != nil {
			return fmt.Errorf("capture: rotate: %w", err)
		}
		r.f, dst = f, f
	}
	r.current, r.isOpen = name, true
	if r.bw == nil {
		r.bw = bufio.NewWriterSize(dst, 64<<10)
	} else {
		r.bw.Reset(dst)
	}
	r.cw = countWriter{w: r.bw}
	// The header reaches the file at once: a valid, empty capture.
	var err error
	if r.ew, err = NewExportWriter(&r.cw, r.linkTypes); err == nil {
		if err = r.ew.Flush(); err == nil {
			err = r.bw.Flush()
		}
	}
	if err != nil {
		if r.f != nil {
			r.f.Close()
		}
		r.f, r.isOpen = nil, false
		return err
	}
	if r.stream != nil {
		return nil
	}
	r.kept = slices.DeleteFunc(r.kept, func(s string) bool { return s == name })
	r.kept = append(r.kept, name)
	if r.opts.Files > 0 {
		for len(r.kept) > r.opts.Files {
			if err := os.Remove(r.kept[0]); err != nil && !os.IsNotExist(err) {
				return fmt.Errorf("capture: rotate: %w", err)
			}
			r.kept = r.kept[1:]
		}
	}
	return nil
}

func (r *Rotator) closeFile() error {
	if !r.isOpen {
		return nil
	}
	err := r.bw.Flush()
	if r.f != nil {
		if cerr := r.f.Close(); err == nil {
			err = cerr
		}
	}
	r.f, r.isOpen = nil, false
	if err != nil {
		return fmt.Errorf("capture: rotate: %s: %w", r.current, err)
	}
	return nil
}

// WritePacket writes p, first starting a new file when the current one is
// past Size or p is at least Every after the file's first packet.
func (r *Rotator) WritePacket(p *Packet) error {
	if !r.isOpen {
		return fmt.Errorf("capture: rotate: %s: closed", r.name)
	}
	switch {
	case r.opts.Every > 0 && !r.start.IsZero() && p.Time.Sub(r.start) >= r.opts.Every:
		r.count, r.named = 0, p.Time
		if err := r.open(r.fileName(p.Time, 0)); err != nil {
			return err
		}
		r.start = time.Time{}
	case r.opts.Size > 0 && r.cw.n > r.opts.Size:
		r.count++
		if r.opts.Files > 0 && r.count >= r.opts.Files {
			r.count = 0
		}
		if err := r.open(r.fileName(r.named, r.count)); err != nil {
			return err
		}
		// a size rotation keeps the -G period going
	}
	if r.start.IsZero() {
		r.start = p.Time
	}
	if err := r.ew.WritePacket(p); err != nil {
		return err
	}
	// Into bw, so that cw counts the file's exact size.
	return r.ew.Flush()
}

// Flush writes buffered packets to the current file.
func (r *Rotator) Flush() error {
	if !r.isOpen {
		return nil
	}
	if err := r.bw.Flush(); err != nil {
		return fmt.Errorf("capture: rotate: %s: %w", r.current, err)
	}
	return nil
}

// Close flushes and closes the current file.
func (r *Rotator) Close() error { return r.closeFile() }

// Files lists the files this Rotator wrote that are still kept, oldest
// first; the last is the current one.
func (r *Rotator) Files() []string { return slices.Clone(r.kept) }

// Strftime formats t as C's strftime(3) does for the conversions tcpdump
// users put in -G file names: %Y %y %C %m %d %e %j %H %I %M %S %p %s %F
// %T %D %R %a %A %b %h %B %u %w %z %Z %n %t %%. Any other conversion is
// kept as written.
func Strftime(layout string, t time.Time) string {
	var b strings.Builder
	for i := 0; i < len(layout); i++ {
		c := layout[i]
		if c != '%' || i+1 == len(layout) {
			b.WriteByte(c)
			continue
		}
		i++
		switch v := layout[i]; v {
		case 'Y':
			b.WriteString(strconv.Itoa(t.Year()))
		case 'y':
			pad2(&b, t.Year()%100)
		case 'C':
			pad2(&b, t.Year()/100)
		case 'm':
			pad2(&b, int(t.Month()))
		case 'd':
			pad2(&b, t.Day())
		case 'e':
			fmt.Fprintf(&b, "%2d", t.Day())
		case 'j':
			fmt.Fprintf(&b, "%03d", t.YearDay())
		case 'H':
			pad2(&b, t.Hour())
		case 'I':
			h := t.Hour() % 12
			if h == 0 {
				h = 12
			}
			pad2(&b, h)
		case 'M':
			pad2(&b, t.Minute())
		case 'S':
			pad2(&b, t.Second())
		case 'p':
			if t.Hour() < 12 {
				b.WriteString("AM")
			} else {
				b.WriteString("PM")
			}
		case 's':
			b.WriteString(strconv.FormatInt(t.Unix(), 10))
		case 'F':
			b.WriteString(Strftime("%Y-%m-%d", t))
		case 'T':
			b.WriteString(Strftime("%H:%M:%S", t))
		case 'D':
			b.WriteString(Strftime("%m/%d/%y", t))
		case 'R':
			b.WriteString(Strftime("%H:%M", t))
		case 'a':
			b.WriteString(t.Weekday().String()[:3])
		case 'A':
			b.WriteString(t.Weekday().String())
		case 'b', 'h':
			b.WriteString(t.Month().String()[:3])
		case 'B':
			b.WriteString(t.Month().String())
		case 'u':
			wd := int(t.Weekday())
			if wd == 0 {
				wd = 7
			}
			b.WriteString(strconv.Itoa(wd))
		case 'w':
			b.WriteString(strconv.Itoa(int(t.Weekday())))
		case 'z':
			b.WriteString(t.Format("-0700"))
		case 'Z':
			b.WriteString(t.Format("MST"))
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(v)
		}
	}
	return b.String()
}

func pad2(b *strings.Builder, n int) {
	if n < 10 {
		b.WriteByte('0')
	}
	b.WriteString(strconv.Itoa(n))
}
