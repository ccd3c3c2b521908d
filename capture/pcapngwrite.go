package capture

import (
	"bufio"
	"fmt"
	"io"

	"github.com/gopacket/gopacket/pcapgo"
)

// PcapngWriter writes packets' frames to a pcapng file, whatever their link
// types: the first frame of each link type adds an interface (an Interface
// Description Block) for it, so a capture whose link types change midway
// exports whole. Timestamps have nanosecond resolution. Output is
// buffered: call Flush at the end. The section header is written with the
// first packet (or by Flush when there was none).
type PcapngWriter struct {
	bw    *bufio.Writer
	ng    *pcapgo.NgWriter
	links []int // link type of interface i
	err   error // first error, returned by every later call
}

// NewPcapngWriter returns a writer to w; nothing is written yet.
func NewPcapngWriter(w io.Writer) *PcapngWriter {
	return &PcapngWriter{bw: bufio.NewWriter(w)}
}

// WritePacket writes p.Frame with p.Time, p.WireLen and p.LinkType.
func (w *PcapngWriter) WritePacket(p *Packet) error {
	if w.err != nil {
		return w.err
	}
	id := -1
	for i, lt := range w.links {
		if lt == p.LinkType {
			id = i
			break
		}
	}
	if id < 0 {
		if id, w.err = w.addInterface(p.LinkType); w.err != nil {
			return w.err
		}
	}
	if err := w.ng.WritePacket(captureInfo(p, id), p.Frame); err != nil {
		w.err = fmt.Errorf("capture: export: %w", err)
	}
	return w.err
}

// addInterface adds an interface for linkType, writing the section header
// first when it is the first one.
func (w *PcapngWriter) addInterface(linkType int) (int, error) {
	if w.ng == nil {
		opts := pcapgo.DefaultNgWriterOptions
		opts.SectionInfo.Application = "rstscope"
		ng, err := pcapgo.NewNgWriterInterface(w.bw, ngInterface(linkType), opts)
		if err != nil {
			return 0, fmt.Errorf("capture: export: %w", err)
		}
		w.ng, w.links = ng, []int{linkType}
		return 0, nil
	}
	id, err := w.ng.AddInterface(ngInterface(linkType))
	if err != nil {
		return 0, fmt.Errorf("capture: export: %w", err)
	}
	w.links = append(w.links, linkType)
	return id, nil
}

// Flush writes out buffered data. A writer that got no packet writes a
// section header with one Ethernet interface, so that the file is a valid,
// empty capture.
func (w *PcapngWriter) Flush() error {
	if w.err != nil {
		return w.err
	}
	if w.ng == nil {
		if _, w.err = w.addInterface(linkEthernet); w.err != nil {
			return w.err
		}
	}
	if err := w.ng.Flush(); err != nil {
		w.err = fmt.Errorf("capture: export: %w", err)
		return w.err
	}
	if err := w.bw.Flush(); err != nil {
		w.err = fmt.Errorf("capture: export: %w", err)
	}
	return w.err
}

// LinkTypes returns the link types written so far, in interface order.
func (w *PcapngWriter) LinkTypes() []int { return append([]int(nil), w.links...) }
