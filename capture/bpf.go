package capture

import "github.com/gopacket/gopacket"

// filter matches frames against one BPF expression. libpcap compiles an
// expression for a link type, so the filter keeps one program per link type
// met (a pcapng file may mix them); usually there is one.
type filter struct {
	expr      string
	bigEndian bool // byte order of the file the frames come from
	progs     []filterProg
}

type filterProg struct {
	linkType int
	prog     bpfProgram // nil: the expression does not compile for this link type
}

// bpfProgram is a compiled filter (bpf_cgo.go).
type bpfProgram interface {
	matches(ci gopacket.CaptureInfo, data []byte) bool
}

// newFilter compiles expr for linkType, which checks the expression: its
// error reads `capture: bad filter "expr": <libpcap's message>`.
func newFilter(expr string, linkType int, bigEndian bool) (*filter, error) {
	prog, err := compileBPF(expr, linkType, bigEndian)
	if err != nil {
		return nil, err
	}
	return &filter{expr: expr, bigEndian: bigEndian, progs: []filterProg{{linkType: linkType, prog: prog}}}, nil
}

// match reports whether the filter accepts the frame. Frames of a link type
// the expression does not compile for (say "ether host" on raw IP) are
// rejected, as tcpdump would refuse to run on them.
func (f *filter) match(linkType int, data []byte, ci gopacket.CaptureInfo) bool {
	for i := range f.progs {
		if f.progs[i].linkType == linkType {
			prog := f.progs[i].prog
			return prog != nil && prog.matches(ci, data)
		}
	}
	prog, err := compileBPF(f.expr, linkType, f.bigEndian)
	if err != nil {
		prog = nil
	}
	f.progs = append(f.progs, filterProg{linkType: linkType, prog: prog})
	return prog != nil && prog.matches(ci, data)
}
