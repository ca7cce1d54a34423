package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
)

// TestContainerCalls checks the wire of the container endpoints the CLI
// streams or waits on: method, path and query of each, and the answers
// decoded (the archive's stat header, the wait body, the prune report).
func TestContainerCalls(t *testing.T) {
	type call struct{ method, path, query string }
	var got []call
	stat := container.PathStat{Name: "etc", Mode: 0o755 | 1<<31}
	statJSON, _ := json.Marshal(stat)
	c := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_ping" {
			w.Header().Set("Api-Version", "1.50")
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		got = append(got, call{r.Method, strings.TrimPrefix(r.URL.Path, "/v1.50"), r.URL.RawQuery})
		switch {
		case strings.HasSuffix(r.URL.Path, "/archive"):
			w.Header().Set("X-Docker-Container-Path-Stat", base64.StdEncoding.EncodeToString(statJSON))
			if r.Method == http.MethodGet {
				io.WriteString(w, "tar")
			}
		case strings.HasSuffix(r.URL.Path, "/wait"):
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			json.NewEncoder(w).Encode(container.WaitResponse{StatusCode: 3})
		case strings.HasSuffix(r.URL.Path, "/prune"):
			json.NewEncoder(w).Encode(container.PruneReport{ContainersDeleted: []string{"a"}, SpaceReclaimed: 7})
		case r.URL.Path == "/v1.50/commit":
			json.NewEncoder(w).Encode(container.CommitResponse{ID: "sha256:x"})
		case strings.HasSuffix(r.URL.Path, "/exec/e1/json"):
			json.NewEncoder(w).Encode(container.ExecInspectResponse{ID: "e1"})
		case strings.HasSuffix(r.URL.Path, "/json"):
			io.WriteString(w, `{"Id":"c1","Extra":1}`)
		default:
			io.WriteString(w, "body")
		}
	}))
	ctx := context.Background()
	read := func(rc io.ReadCloser, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		b, _ := io.ReadAll(rc)
		return string(b)
	}
	if got := read(c.ContainerLogs(ctx, "c1", LogsOptions{ShowStdout: true, Follow: true, Since: "1.5", Tail: "all"})); got != "body" {
		t.Fatalf("logs body %q", got)
	}
	read(c.ContainerStats(ctx, "c1", false))
	read(c.ContainerStats(ctx, "c1", true))
	read(c.ContainerExport(ctx, "c1"))
	if st, err := c.ContainerStatPath(ctx, "c1", "/etc"); err != nil || st.Name != "etc" || !st.Mode.IsDir() {
		t.Fatalf("stat = %+v, %v", st, err)
	}
	body, st, err := c.CopyFromContainer(ctx, "c1", "/etc")
	if err != nil || st.Name != "etc" {
		t.Fatalf("copy from = %+v, %v", st, err)
	}
	read(body, nil)
	if err := c.CopyToContainer(ctx, "c1", "/tmp", strings.NewReader("tar"), CopyToContainerOptions{NoOverwriteDirNonDir: true, CopyUIDGID: true}); err != nil {
		t.Fatal(err)
	}
	ch, err := c.ContainerWait(ctx, "c1", container.WaitConditionNextExit)
	if err != nil {
		t.Fatal(err)
	}
	if w := <-ch; w.Err != nil || w.Response.StatusCode != 3 {
		t.Fatalf("wait = %+v", w)
	}
	if rep, err := c.ContainersPrune(ctx, Filters{"until": {"1h"}}); err != nil || rep.SpaceReclaimed != 7 || len(rep.ContainersDeleted) != 1 {
		t.Fatalf("prune = %+v, %v", rep, err)
	}
	if r, err := c.ContainerCommit(ctx, "c1", ContainerCommitOptions{Repo: "r", Tag: "t", Changes: []string{"ENV a=b"}, NoPause: true}); err != nil || r.ID != "sha256:x" {
		t.Fatalf("commit = %+v, %v", r, err)
	}
	if err := c.ContainerResize(ctx, "c1", 24, 80); err != nil {
		t.Fatal(err)
	}
	if err := c.ExecResize(ctx, "e1", 24, 80); err != nil {
		t.Fatal(err)
	}
	if r, err := c.ExecInspect(ctx, "e1"); err != nil || r.ID != "e1" {
		t.Fatalf("exec inspect = %+v, %v", r, err)
	}
	if r, raw, err := c.ContainerInspectWithRaw(ctx, "c1", true); err != nil || r.ID != "c1" || !strings.Contains(string(raw), "Extra") {
		t.Fatalf("inspect = %+v %s, %v", r, raw, err)
	}
	want := []call{
		{"GET", "/containers/c1/logs", "follow=1&since=1.5&stdout=1&tail=all"},
		{"GET", "/containers/c1/stats", "stream=0"},
		{"GET", "/containers/c1/stats", "stream=1"},
		{"GET", "/containers/c1/export", ""},
		{"HEAD", "/containers/c1/archive", "path=%2Fetc"},
		{"GET", "/containers/c1/archive", "path=%2Fetc"},
		{"PUT", "/containers/c1/archive", "copyUIDGID=true&noOverwriteDirNonDir=true&path=%2Ftmp"},
		{"POST", "/containers/c1/wait", "condition=next-exit"},
		{"POST", "/containers/prune", "filters=%7B%22until%22%3A%7B%221h%22%3Atrue%7D%7D"},
		{"POST", "/commit", "author=&changes=ENV+a%3Db&comment=&container=c1&pause=0&repo=r&tag=t"},
		{"POST", "/containers/c1/resize", "h=24&w=80"},
		{"POST", "/exec/e1/resize", "h=24&w=80"},
		{"GET", "/exec/e1/json", ""},
		{"GET", "/containers/c1/json", "size=1"},
	}
	if len(got) != len(want) {
		t.Fatalf("calls = %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("call %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestContainerAttachQuery checks attach's query: only the streams asked.
func TestContainerAttachQuery(t *testing.T) {
	q := ContainerAttachOptions{Stream: true, Stdout: true, DetachKeys: "ctrl-x"}.query().Encode()
	if q != "detachKeys=ctrl-x&stdout=1&stream=1" {
		t.Fatalf("attach query = %s", q)
	}
}
