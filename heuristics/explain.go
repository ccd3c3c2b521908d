package heuristics

import (
	"slices"
	"strings"
)

// ExplainAll describes every cause, in AllCauses order, then any cause of
// the table outside AllCauses.
func ExplainAll() string {
	var b strings.Builder
	write := func(c Cause) {
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(string(c))
		b.WriteString("\n")
		b.WriteString(Explain(c))
	}
	for _, c := range AllCauses {
		write(c)
	}
	for _, r := range causes {
		if !slices.Contains(AllCauses, r.cause) {
			write(r.cause)
		}
	}
	return b.String()
}
