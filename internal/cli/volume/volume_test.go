package volume

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/client"
	"github.com/moby/moby/api/types/volume"
)

func TestVolumeLsFormats(t *testing.T) {
	list := []volume.Volume{
		{Name: "zeta", Driver: "local", Scope: "local", Mountpoint: "/v/zeta/_data", Labels: map[string]string{"b": "2", "a": "1"}},
		{Name: "alpha", Driver: "local", Scope: "local", Mountpoint: "/v/alpha/_data", UsageData: &volume.UsageData{RefCount: 2, Size: 2048}},
	}
	cases := []struct {
		format string
		quiet  bool
		want   string
	}{
		{"", false, "DRIVER    VOLUME NAME\nlocal     alpha\nlocal     zeta\n"},
		{"", true, "alpha\nzeta\n"},
		{"{{.Name}} {{.Labels}} {{.Label \"a\"}}", false, "alpha  \nzeta a=1,b=2 1\n"},
		{"table {{.Name}}\t{{.Links}}\t{{.Size}}", false, "VOLUME NAME   LINKS     SIZE\nalpha         2         2.05kB\nzeta          N/A       N/A\n"},
		{"json", false, `{"Availability":"N/A","Driver":"local","Group":"N/A","Labels":"","Links":"2","Mountpoint":"/v/alpha/_data","Name":"alpha","Scope":"local","Size":"2.05kB","Status":"N/A"}` + "\n" +
			`{"Availability":"N/A","Driver":"local","Group":"N/A","Labels":"a=1,b=2","Links":"N/A","Mountpoint":"/v/zeta/_data","Name":"zeta","Scope":"local","Size":"N/A","Status":"N/A"}` + "\n"},
	}
	for _, c := range cases {
		var out bytes.Buffer
		if err := WriteList(&out, append([]volume.Volume(nil), list...), c.format, c.quiet); err != nil {
			t.Fatal(err)
		}
		if out.String() != c.want {
			t.Errorf("format %q quiet %v:\n%q\nwant\n%q", c.format, c.quiet, out.String(), c.want)
		}
	}
}

// fakeDaemon answers the volume API from a table and records requests.
type fakeDaemon struct {
	mu   sync.Mutex
	reqs []string
	vols map[string]volume.Volume
}

func (f *fakeDaemon) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Api-Version", "1.50")
	if strings.HasSuffix(r.URL.Path, "/_ping") {
		return
	}
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, r.Method+" "+r.URL.RequestURI()+" "+string(body))
	path := strings.TrimPrefix(r.URL.Path, "/v1.50")
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodPost && path == "/volumes/create":
		var req volume.CreateRequest
		json.Unmarshal(body, &req)
		v := volume.Volume{Name: req.Name, Driver: "local", Labels: req.Labels, Options: req.DriverOpts, Scope: "local"}
		f.vols[v.Name] = v
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(v)
	case r.Method == http.MethodPost && path == "/volumes/prune":
		json.NewEncoder(w).Encode(volume.PruneReport{VolumesDeleted: []string{"anon1", "anon2"}, SpaceReclaimed: 1500})
	case r.Method == http.MethodDelete && path == "/volumes/busy":
		w.WriteHeader(http.StatusConflict)
		io.WriteString(w, `{"message":"remove busy: volume is in use - [abc123]"}`)
	case r.Method == http.MethodDelete:
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/volumes/"):
		name := strings.TrimPrefix(path, "/volumes/")
		v, ok := f.vols[name]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"message":"get `+name+`: no such volume"}`)
			return
		}
		json.NewEncoder(w).Encode(v)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func runVolume(t *testing.T, f *fakeDaemon, stdin string, args ...string) (string, string, int) {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	var out, errb bytes.Buffer
	env := command.NewEnv(command.Streams{In: strings.NewReader(stdin), Out: &out, Err: &errb}, func() (*client.Client, error) {
		return client.New("tcp://" + strings.TrimPrefix(srv.URL, "http://"))
	})
	cmd := NewCommand(env)
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	code := 0
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		code = 1
		if se, ok := err.(*command.StatusError); ok {
			if se.Status != "" {
				errb.WriteString(se.Status + "\n")
			}
			if se.Code != 0 {
				code = se.Code
			}
		} else {
			errb.WriteString(err.Error() + "\n")
		}
	}
	return out.String(), errb.String(), code
}

func TestVolumeCreateSendsDockersBody(t *testing.T) {
	f := &fakeDaemon{vols: map[string]volume.Volume{}}
	out, errOut, code := runVolume(t, f, "", "create", "--label", "k=v", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=10m,uid=1000", "vol1")
	if code != 0 || out != "vol1\n" {
		t.Fatalf("create: %d %q %q", code, out, errOut)
	}
	want := `POST /v1.50/volumes/create {"Driver":"local","DriverOpts":{"device":"tmpfs","o":"size=10m,uid=1000","type":"tmpfs"},"Labels":{"k":"v"},"Name":"vol1"}`
	if got := f.reqs[0]; got != want {
		t.Fatalf("request:\n%s\nwant\n%s", got, want)
	}
	if _, errOut, code = runVolume(t, f, "", "create", "--name", "a", "b"); code != 1 || !strings.Contains(errOut, "conflicting options") {
		t.Fatalf("--name and arg: %d %q", code, errOut)
	}
}

func TestVolumeRmAndInspect(t *testing.T) {
	f := &fakeDaemon{vols: map[string]volume.Volume{"vol1": {Name: "vol1", Driver: "local", Scope: "local"}}}
	out, errOut, code := runVolume(t, f, "", "rm", "-f", "vol1", "busy", "other")
	if code != 1 || out != "vol1\nother\n" || errOut != "Error response from daemon: remove busy: volume is in use - [abc123]\n" {
		t.Fatalf("rm: %d %q %q", code, out, errOut)
	}
	if !strings.Contains(f.reqs[0], "DELETE /v1.50/volumes/vol1?force=1") {
		t.Fatalf("rm request: %s", f.reqs[0])
	}
	out, errOut, code = runVolume(t, f, "", "inspect", "-f", "{{.Name}}/{{.Driver}}", "vol1", "nope")
	if code != 1 || out != "vol1/local\n" || errOut != "Error response from daemon: get nope: no such volume\n" {
		t.Fatalf("inspect: %d %q %q", code, out, errOut)
	}
}

func TestVolumePrunePromptAndReport(t *testing.T) {
	f := &fakeDaemon{vols: map[string]volume.Volume{}}
	out, _, code := runVolume(t, f, "n\n", "prune")
	if code != 0 || out != "WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] " || len(f.reqs) != 0 {
		t.Fatalf("declined prune: %d %q %v", code, out, f.reqs)
	}
	out, _, code = runVolume(t, f, "y\n", "prune", "-a", "--filter", "label=k=v")
	want := "WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] " +
		"Deleted Volumes:\nanon1\nanon2\n\nTotal reclaimed space: 1.5kB\n"
	if code != 0 || out != want {
		t.Fatalf("prune -a:\n%q\nwant\n%q", out, want)
	}
	if got := f.reqs[0]; !strings.Contains(got, "filters=%7B%22all%22%3A%7B%22true%22%3Atrue%7D%2C%22label%22%3A%7B%22k%3Dv%22%3Atrue%7D%7D") {
		t.Fatalf("prune request: %s", got)
	}
	if _, errOut, code := runVolume(t, f, "", "prune", "-a", "-f", "--filter", "all=1"); code != 1 || !strings.Contains(errOut, "conflicting options") {
		t.Fatalf("prune -a with all filter: %d %q", code, errOut)
	}
}
