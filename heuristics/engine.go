package heuristics

import (
	"time"

	"github.com/rstscope/rstscope/flows"
)

// Engine turns flow events into findings. It is stateless apart from its
// options and may be shared.
type Engine struct {
	// Idle is the gap that counts as idle (default 5 s).
	Idle time.Duration
}

// Judge attributes one event. The returned Finding has ID 0; the caller
// numbers findings in output order.
func (e *Engine) Judge(ev *flows.Event) Finding {
	return Finding{Cause: CauseUnknown, Origin: OriginUnknown}
}
