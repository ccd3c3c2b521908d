package report

import (
	"time"

	"github.com/rstscope/rstscope/heuristics"
)

// Writer renders findings in one format. Streaming formats (ndjson, live
// text) write each finding as it comes; document formats (json, markdown,
// text summary) write at Close. A Writer keeps its first error and
// returns it from Close.
type Writer interface {
	Write(f *heuristics.Finding) error
	Close(s Summary) error
}

// Summary is what was read, for the document header and the "stats"
// object of the JSON contract.
type Summary struct {
	Tool    string
	Version string
	Inputs  []string
	Stats   Stats
	// First/Last capture time seen (zero when no packet).
	First, Last time.Time
	// Warnings to show in the report (e.g. truncated input).
	Warnings []string
}

// Stats is the "stats" object of the JSON contract.
type Stats struct {
	Packets         uint64 `json:"packets"`
	TCPPackets      uint64 `json:"tcp_packets"`
	TCPFlows        uint64 `json:"tcp_flows"`
	RSTPackets      uint64 `json:"rst_packets"`
	Findings        uint64 `json:"findings"`
	Undecodable     uint64 `json:"undecodable"`
	TruncatedInput  bool   `json:"truncated_input"`
	DroppedByKernel uint64 `json:"dropped_by_kernel"`
	DroppedFlows    uint64 `json:"dropped_flows"`
	Filtered        uint64 `json:"filtered_out"` // findings left out by --cause/--origin/... filters
}

// Options configures a Writer.
type Options struct {
	Color bool // text: ANSI colour (false: plain ASCII profile)
	Width int  // text: wrap width; 0 means 100
}
