package filters

import (
	"strconv"
	"time"

	"github.com/berth-project/berth/internal/errdefs"
)

// Until reads a prune or list filter's "until" (the last one given); zero
// when there is none.
func (a Args) Until() (time.Time, error) {
	var until time.Time
	for _, v := range a.Get("until") {
		t, err := parseTime(v)
		if err != nil {
			// dockerd's words for a bad until (prune of containers,
			// images and networks).
			return time.Time{}, errdefs.Invalidf("failed to parse value as time or duration: %q", v)
		}
		until = t
	}
	return until, nil
}

// parseTime accepts unix seconds (with fraction), RFC3339, dates and a
// duration back from now, as dockerd's filters do.
func parseTime(v string) (time.Time, error) {
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)), nil
	}
	for _, layout := range []string{time.RFC3339Nano, time.RFC3339, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	if dur, err := time.ParseDuration(v); err == nil {
		return time.Now().Add(-dur), nil
	}
	return time.Time{}, errdefs.Invalidf("invalid time value %q", v)
}
