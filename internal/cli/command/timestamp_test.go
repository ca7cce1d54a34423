package command

import (
	"testing"
	"time"
)

func TestParseTimestamp(t *testing.T) {
	now := time.Unix(1795736400, 0)
	cases := map[string]string{
		"10m":                  "1795735800.000000000",
		"1795736309":           "1795736309",
		"1795736309.5":         "1795736309.500000000",
		"2026-11-26T23:40:21Z": "1795736421.000000000",
	}
	for in, want := range cases {
		got, err := ParseTimestamp(in, now)
		if err != nil || got != want {
			t.Errorf("ParseTimestamp(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseTimestamp("yesterday", now); err == nil {
		t.Error("bad timestamp accepted")
	}
}
