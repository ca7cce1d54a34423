package system

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/client"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/volume"
)

// fakeEngine serves canned answers by path and records the calls.
func fakeEngine(t *testing.T, answers map[string]any) (*client.Client, *[]string) {
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
		json.NewEncoder(w).Encode(answers[path])
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	c, err := client.New("unix://" + sock)
	if err != nil {
		t.Fatal(err)
	}
	return c, &calls
}

func TestBytesSize(t *testing.T) {
	if got := bytesSize(64 << 20); got != "64MiB" {
		t.Errorf("bytesSize = %q", got)
	}
}

// TestDf runs df's logic without cobra against a fake daemon.
func TestDf(t *testing.T) {
	c, _ := fakeEngine(t, map[string]any{"/system/df": client.DiskUsage{
		LayersSize: 4000,
		Images:     []image.Summary{{ID: "sha256:aaaaaaaaaaaaaaaa", Size: 4000, SharedSize: 0, Containers: 1, RepoTags: []string{"bb:1"}}},
		Containers: []container.Summary{{ID: "c1", SizeRw: 100, State: "exited"}, {ID: "c2", SizeRw: 50, State: "running"}},
		Volumes:    []volume.Volume{{Name: "v", UsageData: &volume.UsageData{Size: 10, RefCount: 0}}},
		BuildCache: []build.CacheRecord{{ID: "b", Size: 7}},
	}})
	var out bytes.Buffer
	if err := Df(context.Background(), c, DfOptions{}, &out); err != nil {
		t.Fatal(err)
	}
	want := "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE\n" +
		"Images          1         1         4kB       0B (0%)\n" +
		"Containers      2         1         150B      100B (66%)\n" +
		"Local Volumes   1         0         10B       10B (100%)\n" +
		"Build Cache     1         0         7B        7B\n"
	if out.String() != want {
		t.Errorf("df:\n%s\nwant:\n%s", out.String(), want)
	}
}

// TestPruneOrderAndReport checks system prune's calls and its report.
func TestPruneOrderAndReport(t *testing.T) {
	c, calls := fakeEngine(t, map[string]any{
		"/containers/prune": container.PruneReport{ContainersDeleted: []string{"c1"}, SpaceReclaimed: 1000},
		"/images/prune":     image.PruneReport{ImagesDeleted: []image.DeleteResponse{{Untagged: "bb:1"}, {Deleted: "sha256:x"}}, SpaceReclaimed: 2000},
		"/build/prune":      build.CachePruneReport{SpaceReclaimed: 3000},
	})
	var out bytes.Buffer
	n, err := Prune(context.Background(), c, PruneOptions{All: true}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if n != 6000 {
		t.Errorf("reclaimed %d bytes, want 6000", n)
	}
	want := "Deleted Containers:\nc1\n\nDeleted Images:\nuntagged: bb:1\ndeleted: sha256:x\n\n"
	if out.String() != want {
		t.Errorf("report:\n%q\nwant:\n%q", out.String(), want)
	}
	got := strings.Join(*calls, "\n")
	wantCalls := "POST /containers/prune?\nPOST /images/prune?filters=%7B%22dangling%22%3A%7B%22false%22%3Atrue%7D%7D\nPOST /build/prune?all=1"
	if got != wantCalls {
		t.Errorf("calls:\n%s\nwant:\n%s", got, wantCalls)
	}
}

func TestEventLine(t *testing.T) {
	var out bytes.Buffer
	in := `{"Type":"container","Action":"start","Actor":{"ID":"abc","Attributes":{"name":"x","image":"bb"}},"time":1,"timeNano":1000000000}` + "\n"
	if err := PrintEvents(&out, strings.NewReader(in), ""); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(out.String(), " container start abc (image=bb, name=x)\n") {
		t.Errorf("event line %q", out.String())
	}
}
