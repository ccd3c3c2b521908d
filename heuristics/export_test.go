package heuristics

import (
	"testing"

	"github.com/rstscope/rstscope/flows"
)

// Hooks for the external tests (package heuristics_test).

// AddCause puts a row for cause c at the head of the cause table for the
// duration of the test: its rule claims c strongly, with signal sig,
// whenever fires(ev) is true. Nothing else is registered anywhere.
func AddCause(t *testing.T, c Cause, sig Signal, fires func(*flows.Event) bool, advice, explain string) {
	old := causes
	row := causeRow{
		cause: c,
		rule: func(ev *flows.Event, cx *ctx) []claim {
			if !fires(ev) {
				return nil
			}
			return []claim{causeOf(c, sig, strong, "the throwaway rule fired", cx.rst.Frame)}
		},
		advice:  func(*ctx) string { return advice },
		explain: explain,
	}
	causes = append([]causeRow{row}, old...)
	t.Cleanup(func() { causes = old })
}

// ScenarioEvent builds an event from ladder lines (scenario_test.go).
func ScenarioEvent(t *testing.T, lines ...string) *flows.Event {
	return newScenario(t).event(lines...)
}
