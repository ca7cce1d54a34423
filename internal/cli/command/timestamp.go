package command

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseTimestamp turns docker's --since/--until values into the API's
// "seconds.nanoseconds" form: durations ("10m") are relative to now, plain
// numbers are unix times, and RFC3339 (with or without zone/fraction) dates.
func ParseTimestamp(v string, now time.Time) (string, error) {
	if d, err := time.ParseDuration(v); err == nil {
		t := now.Add(-d)
		return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond()), nil
	}
	if _, err := strconv.ParseFloat(v, 64); err == nil {
		if !strings.Contains(v, ".") {
			return v, nil
		}
		sec, frac, _ := strings.Cut(v, ".")
		return sec + "." + (frac + "000000000")[:9], nil
	}
	layouts := []string{time.RFC3339Nano, time.RFC3339, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05",
		"2006-01-02T15:04", "2006-01-02T15", "2006-01-02"}
	for _, l := range layouts {
		loc := time.Local
		if t, err := time.ParseInLocation(l, v, loc); err == nil {
			return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond()), nil
		}
	}
	return "", fmt.Errorf("failed to parse value as time or duration: %q", v)
}
