package capture

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// PcapWriter writes packets' frames to a classic pcap file with nanosecond
// timestamps (magic a1b23c4d, read by tcpdump, tshark and libpcap since
// 1.5). Output is buffered: call Flush at the end.
type PcapWriter struct {
	bw       *bufio.Writer
	w        *pcapgo.Writer
	linkType int
}

// NewPcapWriter writes the file header for linkType (a pcap LINKTYPE_
// value) and snaplen (0 means 262144) and returns the writer.
func NewPcapWriter(w io.Writer, linkType int, snaplen uint32) (*PcapWriter, error) {
	if snaplen == 0 {
		snaplen = maxRecordLen
	}
	bw := bufio.NewWriter(w)
	pw := pcapgo.NewWriterNanos(bw)
	if err := pw.WriteFileHeader(snaplen, layers.LinkType(linkType)); err != nil {
		return nil, fmt.Errorf("capture: export: %w", err)
	}
	return &PcapWriter{bw: bw, w: pw, linkType: linkType}, nil
}

// WritePacket writes p.Frame with p.Time and p.WireLen. The frame's link
// type must be the file's.
func (w *PcapWriter) WritePacket(p *Packet) error {
	if p.LinkType != w.linkType {
		return fmt.Errorf("capture: export: frame %d has link type %d, the pcap file %d", p.Index, p.LinkType, w.linkType)
	}
	if err := w.w.WritePacket(captureInfo(p, 0), p.Frame); err != nil {
		return fmt.Errorf("capture: export: %w", err)
	}
	return nil
}

// Flush writes out buffered data.
func (w *PcapWriter) Flush() error {
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("capture: export: %w", err)
	}
	return nil
}

// captureInfo is p's record header. A wire length below the captured length
// (never from a Source) is raised to it, as pcap requires.
func captureInfo(p *Packet, iface int) gopacket.CaptureInfo {
	wire := p.WireLen
	if wire < len(p.Frame) {
		wire = len(p.Frame)
	}
	return gopacket.CaptureInfo{Timestamp: p.Time, CaptureLength: len(p.Frame), Length: wire, InterfaceIndex: iface}
}

// ExportWriter writes frames of one or more link types: classic pcap when
// there is one link type (the most widely read format), pcapng with one
// interface per link type when there are several.
type ExportWriter struct {
	pcap  *PcapWriter
	ng    *pcapgo.NgWriter
	links []int // pcapng: link type of interface i
}

// NewExportWriter picks the format from linkTypes (for example a Source's
// LinkTypes()) and writes the file header. Duplicates are ignored. A pcapng
// export also takes frames of link types not listed, adding an interface
// for each; a pcap export refuses them.
func NewExportWriter(w io.Writer, linkTypes []int) (*ExportWriter, error) {
	var links []int
	for _, lt := range linkTypes {
		if indexOf(links, lt) < 0 {
			links = append(links, lt)
		}
	}
	switch len(links) {
	case 0:
		return nil, errors.New("capture: export: no link type given")
	case 1:
		pw, err := NewPcapWriter(w, links[0], 0)
		if err != nil {
			return nil, err
		}
		return &ExportWriter{pcap: pw}, nil
	}
	opts := pcapgo.DefaultNgWriterOptions
	opts.SectionInfo.Application = "rstscope"
	ng, err := pcapgo.NewNgWriterInterface(w, ngInterface(links[0]), opts)
	if err != nil {
		return nil, fmt.Errorf("capture: export: %w", err)
	}
	e := &ExportWriter{ng: ng, links: links[:1]}
	for _, lt := range links[1:] {
		if _, err := e.addInterface(lt); err != nil {
			return nil, err
		}
	}
	return e, nil
}

func ngInterface(linkType int) pcapgo.NgInterface {
	return pcapgo.NgInterface{
		Name:                "linktype" + strconv.Itoa(linkType),
		LinkType:            layers.LinkType(linkType),
		SnapLength:          maxRecordLen,
		TimestampResolution: 9,
	}
}

func (e *ExportWriter) addInterface(linkType int) (int, error) {
	id, err := e.ng.AddInterface(ngInterface(linkType))
	if err != nil {
		return 0, fmt.Errorf("capture: export: %w", err)
	}
	e.links = append(e.links, linkType)
	return id, nil
}

// WritePacket writes p.Frame with p.Time, p.WireLen and p.LinkType.
func (e *ExportWriter) WritePacket(p *Packet) error {
	if e.pcap != nil {
		return e.pcap.WritePacket(p)
	}
	id := indexOf(e.links, p.LinkType)
	if id < 0 {
		var err error
		if id, err = e.addInterface(p.LinkType); err != nil {
			return err
		}
	}
	if err := e.ng.WritePacket(captureInfo(p, id), p.Frame); err != nil {
		return fmt.Errorf("capture: export: %w", err)
	}
	return nil
}

// Flush writes out buffered data.
func (e *ExportWriter) Flush() error {
	if e.pcap != nil {
		return e.pcap.Flush()
	}
	if err := e.ng.Flush(); err != nil {
		return fmt.Errorf("capture: export: %w", err)
	}
	return nil
}

// Pcapng reports whether the export is pcapng (several link types).
func (e *ExportWriter) Pcapng() bool { return e.ng != nil }

func indexOf(s []int, v int) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}
