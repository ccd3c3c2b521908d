package heuristics

import (
	"strings"
	"time"
)

// adviceInstant is the instant advice names: the one an advice function
// recorded (ctx.adviceAt), if the advice chosen is the one that names it.
func adviceInstant(c *ctx, advice string) time.Time {
	if c.adviceAt.IsZero() || !strings.Contains(advice, adviceClock(c.adviceAt, time.UTC)) {
		return time.Time{}
	}
	return c.adviceAt
}

// adviceClock is how an advice line names an instant: its time of day in
// loc, with the zone, "03:08:34.826 UTC".
func adviceClock(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("15:04:05.000 MST")
}

// AdviceIn gives Advice with the time it names (AdviceTime) shown in loc,
// "check the server's logs at 04:08:34.826 CET ..."; nil means UTC, as
// Advice (and so the JSON contract) has it.
func (f *Finding) AdviceIn(loc *time.Location) string {
	if loc == nil || f.AdviceTime.IsZero() {
		return f.Advice
	}
	return strings.Replace(f.Advice, adviceClock(f.AdviceTime, time.UTC), adviceClock(f.AdviceTime, loc), 1)
}
