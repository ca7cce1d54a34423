package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestHumanDurationLikeDocker(t *testing.T) {
	cases := map[time.Duration]string{
		500 * time.Millisecond: "Less than a second",
		time.Second:            "1 second",
		3 * time.Second:        "3 seconds",
		90 * time.Second:       "About a minute",
		5 * time.Minute:        "5 minutes",
		time.Hour:              "About an hour",
		5 * time.Hour:          "5 hours",
		72 * time.Hour:         "3 days",
		15 * 24 * time.Hour:    "2 weeks",
		90 * 24 * time.Hour:    "3 months",
		800 * 24 * time.Hour:   "2 years",
	}
	for d, want := range cases {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestHumanSizeLikeDocker(t *testing.T) {
	cases := map[int64]string{0: "0B", 999: "999B", 1984132: "1.98MB", 5952000: "5.95MB", 1e9: "1GB", 1234567890123: "1.23TB"}
	for n, want := range cases {
		if got := humanSize(n); got != want {
			t.Errorf("humanSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestEllipsisAndTruncID(t *testing.T) {
	if got := ellipsis("sh -c 'while true; do echo tick; done'", 20); got != "sh -c 'while true; …" {
		t.Errorf("ellipsis = %q", got)
	}
	if got := ellipsis("short", 20); got != "short" {
		t.Errorf("ellipsis short = %q", got)
	}
	if got := truncID("sha256:050f015d5a36beff2fef82d0c76ac28d74a5f92b"); got != "050f015d5a36" {
		t.Errorf("truncID = %q", got)
	}
}

func TestTemplateFuncs(t *testing.T) {
	var b bytes.Buffer
	err := execTemplate(&b, `{{title "ab cd"}} {{lower "X"}} {{truncate "abcdef" 3}} [{{pad "x" 1 2}}]`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != "Ab Cd x abc [ x  ]\n" {
		t.Errorf("funcs = %q", b.String())
	}
}

func TestFilterQueryAndHost(t *testing.T) {
	q := filterQuery([]string{"name=c1", "status=running", "name=c2"})
	if got := q.Get("filters"); got != `{"name":{"c1":true,"c2":true},"status":{"running":true}}` {
		t.Errorf("filters = %s", got)
	}
	host, rest := globalHost([]string{"-H", "unix:///x.sock", "history", "-H", "img"})
	if host != "unix:///x.sock" || strings.Join(rest, " ") != "history -H img" {
		t.Errorf("globalHost = %q %q", host, rest)
	}
	host, _ = globalHost([]string{"--host=tcp://1.2.3.4:5", "ps"})
	if host != "tcp://1.2.3.4:5" {
		t.Errorf("--host= gave %q", host)
	}
}
