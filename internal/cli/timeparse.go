package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
)

// nowFunc is the clock for relative times; a variable-free function keeps
// tests simple by passing explicit times to parseTimestamp instead.
func nowFunc() time.Time { return time.Now() }

// parseTimestamp turns docker's --since/--until values into the API's
// "seconds.nanoseconds" form: durations ("10m") are relative to now, plain
// numbers are unix times, and RFC3339 (with or without zone/fraction) dates.
func parseTimestamp(v string, now time.Time) (string, error) {
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

// copyLogs writes a logs body: raw for a TTY container, stdcopy-framed otherwise.
func copyLogs(a *app, r io.Reader, tty bool) error {
	if tty {
		_, err := io.Copy(a.Out, r)
		return err
	}
	_, err := stdcopy.StdCopy(a.Out, a.Err, r)
	return err
}
