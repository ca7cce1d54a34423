package image

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/cli/command"
	"github.com/berth-project/berth/internal/client"
)

func TestTagTarget(t *testing.T) {
	for _, tc := range []struct{ target, repo, tag, err string }{
		{"bb", "docker.io/library/bb", "latest", ""},
		{"bb:1", "docker.io/library/bb", "1", ""},
		{"docker.io/library/bb:1", "docker.io/library/bb", "1", ""},
		{"docker.io/me/bb", "docker.io/me/bb", "latest", ""},
		{"localhost:5000/x:y", "localhost:5000/x", "y", ""},
		{"UPPER", "", "", `Error parsing reference: "UPPER" is not a valid repository/tag: invalid reference format: repository name (library/UPPER) must be lowercase`},
		{"x@sha256:" + strings.Repeat("0", 64), "", "", "refusing to create a tag with a digest reference"},
	} {
		repo, tag, err := TagTarget("busybox", tc.target)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s: err %v, want %s", tc.target, err, tc.err)
			}
			continue
		}
		if err != nil || repo != tc.repo || tag != tc.tag {
			t.Errorf("%s: %s %s %v, want %s %s", tc.target, repo, tag, err, tc.repo, tc.tag)
		}
	}
}

// fakeEngine answers by path (a status and body) and records the calls.
func fakeEngine(t *testing.T, answers map[string]func(w http.ResponseWriter)) (*client.Client, *[]string) {
	t.Helper()
	var calls []string
	sock := filepath.Join(t.TempDir(), "d.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.50")
		if r.URL.Path == "/_ping" {
			return
		}
		path := strings.TrimPrefix(r.URL.Path, "/v1.50")
		calls = append(calls, r.Method+" "+path+"?"+r.URL.RawQuery)
		if a := answers[r.Method+" "+path]; a != nil {
			a(w)
		}
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	c, err := client.New("unix://" + sock)
	if err != nil {
		t.Fatal(err)
	}
	return c, &calls
}

// TestRemoveReportsEachAndFailsAtEnd runs rmi's logic without cobra: the
// images found are reported, the missing one fails the command at the end.
func TestRemoveReportsEachAndFailsAtEnd(t *testing.T) {
	c, calls := fakeEngine(t, map[string]func(http.ResponseWriter){
		"DELETE /images/a": func(w http.ResponseWriter) {
			w.Write([]byte(`[{"Untagged":"a:latest"},{"Deleted":"sha256:1"}]`))
		},
		"DELETE /images/b": func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"message":"No such image: b:latest"}`))
		},
	})
	var out bytes.Buffer
	err := Remove(context.Background(), c, []string{"b", "a"}, RemoveOptions{Force: true, Platforms: []string{"linux/amd64"}}, &out)
	var se *command.StatusError
	if !errors.As(err, &se) || se.Code != 1 || se.Status != "Error response from daemon: No such image: b:latest" {
		t.Fatalf("err = %#v", err)
	}
	if out.String() != "Untagged: a:latest\nDeleted: sha256:1\n" {
		t.Errorf("out = %q", out.String())
	}
	if len(*calls) != 2 || !strings.Contains((*calls)[1], "force=1") || !strings.Contains((*calls)[1], "platform=") {
		t.Errorf("calls = %q", *calls)
	}
}

// TestPullPrintsDefaultTagAndRef runs pull's logic without cobra.
func TestPullPrintsDefaultTagAndRef(t *testing.T) {
	c, calls := fakeEngine(t, map[string]func(http.ResponseWriter){
		"POST /images/create": func(w http.ResponseWriter) {
			w.Write([]byte(`{"status":"Pulling from library/bb","id":"latest"}` + "\n" +
				`{"status":"Downloading","progressDetail":{"current":1,"total":2},"id":"abc"}` + "\n" +
				`{"status":"Status: Downloaded newer image for bb:latest"}` + "\n"))
		},
	})
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	var out bytes.Buffer
	if err := Pull(context.Background(), c, "bb", PullOptions{}, &out); err != nil {
		t.Fatal(err)
	}
	want := "Using default tag: latest\nlatest: Pulling from library/bb\nStatus: Downloaded newer image for bb:latest\nbb:latest\n"
	if out.String() != want {
		t.Errorf("out = %q, want %q", out.String(), want)
	}
	if (*calls)[0] != "POST /images/create?fromImage=bb&tag=latest" {
		t.Errorf("calls = %q", *calls)
	}
	if err := Pull(context.Background(), c, "bb:1", PullOptions{AllTags: true}, &out); err == nil || err.Error() != "tag can't be used with --all-tags/-a" {
		t.Errorf("all tags with a tag: %v", err)
	}
}
