package container

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/client"
	"github.com/moby/moby/api/types/container"
	"github.com/spf13/cobra"
)

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
	if got := DisplayPorts(ports); got != want {
		t.Errorf("DisplayPorts:\n got %q\nwant %q", got, want)
	}
}

func TestTableRender(t *testing.T) {
	now := time.Now()
	rows := []any{psRow{c: container.Summary{ID: strings.Repeat("ab", 32), Image: "busybox", Command: "sleep 300",
		Created: now.Add(-5 * time.Second).Unix(), Status: "Up 3 seconds", Names: []string{"/c1"}}, trunc: true, now: now}}
	var b bytes.Buffer
	if err := (command.Table{Format: psDefaultFormat, Headers: PsHeaders}).Render(&b, rows); err != nil {
		t.Fatal(err)
	}
	want := "CONTAINER ID   IMAGE     COMMAND       CREATED         STATUS         PORTS     NAMES\n" +
		"abababababab   busybox   \"sleep 300\"   5 seconds ago   Up 3 seconds             c1\n"
	if b.String() != want {
		t.Errorf("table:\n got %q\nwant %q", b.String(), want)
	}
	b.Reset()
	if err := (command.Table{Format: `{{.Names}}\t{{upper .Image}} {{json .Names}} {{join (split .Image "b") "-"}}`, Headers: PsHeaders}).Render(&b, rows); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != "c1\tBUSYBOX \"c1\" -usy-ox\n" {
		t.Errorf("template row = %q", got)
	}
	b.Reset()
	if err := (command.Table{Format: "table {{.ID}}", Headers: PsHeaders}).Render(&b, nil); err != nil {
		t.Fatal(err)
	}
	if b.String() != "CONTAINER ID\n" {
		t.Errorf("empty table = %q", b.String())
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

func TestRunOptionParsing(t *testing.T) {
	p, err := parseRestart("on-failure:2")
	if err != nil || p.Name != "on-failure" || p.MaximumRetryCount != 2 {
		t.Errorf("restart = %+v, %v", p, err)
	}
	if _, err := parseRestart("sometimes"); err == nil {
		t.Error("bad restart policy accepted")
	}
	set, bind, err := ParsePorts([]string{"8080:80", "127.0.0.1:9000:90/udp"}, []string{"70"})
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
}

func TestPsOptions(t *testing.T) {
	cases := []struct {
		o    PsOptions
		want client.ContainerListOptions
	}{
		{PsOptions{Last: -1}, client.ContainerListOptions{Limit: -1}},
		{PsOptions{Last: -1, Latest: true}, client.ContainerListOptions{All: true, Limit: 1}},
		{PsOptions{Last: 3}, client.ContainerListOptions{All: true, Limit: 3}},
		{PsOptions{Last: -1, Format: "{{.Size}}"}, client.ContainerListOptions{Limit: -1, Size: true}},
		{PsOptions{Last: -1, Format: "json"}, client.ContainerListOptions{Limit: -1}},
	}
	for _, c := range cases {
		got := c.o.listOptions()
		got.Filters = nil
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%+v: %+v, want %+v", c.o, got, c.want)
		}
	}
	if f := psFormat("", true, true); f != "{{.ID}}" {
		t.Errorf("-q format %q", f)
	}
	if f := psFormat("table", false, true); f != psDefaultFormat+"\t{{.Size}}" {
		t.Errorf("-s format %q", f)
	}
}

func TestSplitCpArg(t *testing.T) {
	for in, want := range map[string][2]string{
		"web:/etc/hosts": {"web", "/etc/hosts"},
		"/abs/a:b":       {"", "/abs/a:b"},
		"./rel:x":        {"", "./rel:x"},
		"plain":          {"", "plain"},
		"-":              {"", "-"},
	} {
		if c, p := splitCpArg(in); [2]string{c, p} != want {
			t.Errorf("splitCpArg(%q) = %q %q", in, c, p)
		}
	}
}

func TestRunExitError(t *testing.T) {
	root := &cobra.Command{Use: "berth"}
	run := &cobra.Command{Use: "run"}
	root.AddCommand(run)
	for msg, code := range map[string]int{
		`exec: "nope": executable file not found in $PATH`: 127,
		"open /x: no such file or directory":               127,
		"exec /etc: permission denied":                     126,
		"No such image: x":                                 125,
	} {
		var se *command.StatusError
		if err := runExitError(run, errors.New(msg)); !errors.As(err, &se) || se.Code != code ||
			se.Status != "berth: "+msg+"\n\nRun 'berth run --help' for more information" {
			t.Errorf("%q: %#v", msg, err)
		}
	}
	if err := runExitError(run, errNotTTY); err != errNotTTY {
		t.Errorf("a status error is kept: %v", err)
	}
}
