package cli

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
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
	if got := bytesSize(64 << 20); got != "64MiB" {
		t.Errorf("bytesSize = %q", got)
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

func TestDisplayPorts(t *testing.T) {
	v4, v6 := netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("::")
	ports := []container.PortSummary{
		{IP: v4, PrivatePort: 90, PublicPort: 32768, Type: "tcp"},
		{IP: v4, PrivatePort: 80, PublicPort: 8080, Type: "tcp"},
		{IP: v6, PrivatePort: 80, PublicPort: 8080, Type: "tcp"},
		{PrivatePort: 53, Type: "udp"},
		{PrivatePort: 54, Type: "udp"},
		{IP: v4, PrivatePort: 7000, PublicPort: 7000, Type: "tcp"},
		{IP: v4, PrivatePort: 7001, PublicPort: 7001, Type: "tcp"},
	}
	want := "53-54/udp, 0.0.0.0:7000-7001->7000-7001/tcp, 0.0.0.0:8080->80/tcp, [::]:8080->80/tcp, 0.0.0.0:32768->90/tcp"
	if got := displayPorts(ports); got != want {
		t.Errorf("displayPorts:\n got %q\nwant %q", got, want)
	}
}

func TestTableRender(t *testing.T) {
	now := time.Now()
	rows := []any{psRow{c: container.Summary{ID: strings.Repeat("ab", 32), Image: "busybox", Command: "sleep 300",
		Created: now.Add(-5 * time.Second).Unix(), Status: "Up 3 seconds", Names: []string{"/c1"}}, trunc: true, now: now}}
	var b bytes.Buffer
	if err := (table{format: psDefaultFormat, headers: psHeaders}).render(&b, rows); err != nil {
		t.Fatal(err)
	}
	want := "CONTAINER ID   IMAGE     COMMAND       CREATED         STATUS         PORTS     NAMES\n" +
		"abababababab   busybox   \"sleep 300\"   5 seconds ago   Up 3 seconds             c1\n"
	if b.String() != want {
		t.Errorf("table:\n got %q\nwant %q", b.String(), want)
	}
	b.Reset()
	if err := (table{format: `{{.Names}}\t{{upper .Image}} {{json .Names}} {{join (split .Image "b") "-"}}`, headers: psHeaders}).render(&b, rows); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != "c1\tBUSYBOX \"c1\" -usy-ox\n" {
		t.Errorf("template row = %q", got)
	}
	b.Reset()
	if err := (table{format: "table {{.ID}}", headers: psHeaders}).render(&b, nil); err != nil {
		t.Fatal(err)
	}
	if b.String() != "CONTAINER ID\n" {
		t.Errorf("empty table = %q", b.String())
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

func TestParseDetachKeys(t *testing.T) {
	b, err := parseDetachKeys("ctrl-p,ctrl-q")
	if err != nil || !bytes.Equal(b, []byte{16, 17}) {
		t.Errorf("ctrl-p,ctrl-q = %v, %v", b, err)
	}
	b, err = parseDetachKeys("a,ctrl-@,ctrl-[")
	if err != nil || !bytes.Equal(b, []byte{'a', 0, 27}) {
		t.Errorf("a,ctrl-@,ctrl-[ = %v, %v", b, err)
	}
	if _, err := parseDetachKeys("ctrl-1"); err == nil {
		t.Error("ctrl-1 accepted")
	}
	var hit bool
	w := &detachWatcher{keys: []byte{16, 17}, onDetach: func() { hit = true }}
	_, _ = w.Write([]byte{'x', 16})
	_, _ = w.Write([]byte{17})
	if !hit {
		t.Error("detach sequence split over two writes not seen")
	}
}

func TestParseTimestamp(t *testing.T) {
	now := time.Unix(1795736400, 0)
	cases := map[string]string{
		"10m":                  "1795735800.000000000",
		"1795736309":           "1795736309",
		"1795736309.5":         "1795736309.500000000",
		"2026-11-26T23:40:21Z": "1795736421.000000000",
	}
	for in, want := range cases {
		got, err := parseTimestamp(in, now)
		if err != nil || got != want {
			t.Errorf("parseTimestamp(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := parseTimestamp("yesterday", now); err == nil {
		t.Error("bad timestamp accepted")
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

func TestRunOptionParsing(t *testing.T) {
	p, err := parseRestart("on-failure:2")
	if err != nil || p.Name != "on-failure" || p.MaximumRetryCount != 2 {
		t.Errorf("restart = %+v, %v", p, err)
	}
	if _, err := parseRestart("sometimes"); err == nil {
		t.Error("bad restart policy accepted")
	}
	set, bind, err := parsePorts([]string{"8080:80", "127.0.0.1:9000:90/udp"}, []string{"70"})
	if err != nil || len(set) != 3 || len(bind) != 2 {
		t.Fatalf("ports = %v %v %v", set, bind, err)
	}
	m, err := parseMount("type=bind,source=/tmp,target=/host,readonly")
	if err != nil || m.Source != "/tmp" || m.Target != "/host" || !m.ReadOnly || m.Type != "bind" {
		t.Errorf("mount = %+v, %v", m, err)
	}
	if n, err := parseCPUs("0.5"); err != nil || n != 5e8 {
		t.Errorf("cpus = %d, %v", n, err)
	}
	if normalizeName("mytest/bb") != "docker.io/mytest/bb" || normalizeName("bb") != "docker.io/library/bb" ||
		normalizeName("127.0.0.1:5000/x") != "127.0.0.1:5000/x" {
		t.Error("normalizeName")
	}
}
