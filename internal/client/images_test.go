package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/registry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestImageAndSystemCalls checks the wire form of the image, build,
// system, auth and prune methods: method, path, query, the headers that
// matter, and that a streaming method hands back the daemon's body.
func TestImageAndSystemCalls(t *testing.T) {
	type call struct{ method, path, query, headers, body string }
	var got []call
	c := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_ping" {
			w.Header().Set("Api-Version", "1.50")
			return
		}
		b, _ := io.ReadAll(r.Body)
		var hs []string
		for _, k := range []string{"Content-Type", "X-Registry-Auth", "X-Registry-Config"} {
			if v := r.Header.Get(k); v != "" {
				hs = append(hs, k+"="+v)
			}
		}
		got = append(got, call{r.Method, r.URL.Path, r.URL.RawQuery, strings.Join(hs, " "), string(b)})
		switch r.URL.Path {
		case "/v1.50/images/search":
			json.NewEncoder(w).Encode([]registry.SearchResult{{Name: "bb"}})
		case "/v1.50/auth":
			json.NewEncoder(w).Encode(registry.AuthResponse{Status: "Login Succeeded"})
		case "/v1.50/images/bb:1", "/v1.50/images/bb/history":
			w.Write([]byte(`[]`))
		case "/v1.50/info":
			w.Write([]byte(`{"Name":"h","Extra":1}`))
		default:
			w.Write([]byte(`{"status":"ok"}`))
		}
	}))
	ctx := context.Background()
	stream := func(rc io.ReadCloser, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if b, _ := io.ReadAll(rc); string(b) != `{"status":"ok"}` {
			t.Fatalf("stream body = %q", b)
		}
	}
	amd64 := ocispec.Platform{OS: "linux", Architecture: "amd64"}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.ImageTag(ctx, "bb:1", "docker.io/library/bb", "2"))
	stream(c.ImagePull(ctx, "bb", ImagePullOptions{Tag: "1", RegistryAuth: "abc"}))
	stream(c.ImageImport(ctx, "-", strings.NewReader("tar"), ImageImportOptions{Repo: "x:1", Changes: []string{"CMD a", "ENV b=c"}}))
	stream(c.ImageImport(ctx, "http://h/t.tar", nil, ImageImportOptions{}))
	stream(c.ImageLoad(ctx, strings.NewReader("tar"), ImageLoadOptions{Quiet: true, Platforms: []ocispec.Platform{amd64}}))
	stream(c.ImageSave(ctx, []string{"a", "b"}, ImageSaveOptions{}))
	stream(c.ImagePush(ctx, "localhost:5000/bb", ImagePushOptions{Tag: "1"}))
	if r, err := c.ImageSearch(ctx, "bb", ImageSearchOptions{Limit: 3}); err != nil || len(r) != 1 {
		t.Fatalf("ImageSearch = %+v, %v", r, err)
	}
	_, err := c.ImageRemove(ctx, "bb:1", ImageRemoveOptions{Force: true, Platforms: []ocispec.Platform{amd64}})
	must(err)
	_, err = c.ImageHistory(ctx, "bb", ImageHistoryOptions{Platform: &amd64})
	must(err)
	stream(c.ImageBuild(ctx, strings.NewReader("ctx"), ImageBuildOptions{Tags: []string{"x"}, Remove: true, RegistryConfig: "e30="}))
	_, err = c.BuildCachePrune(ctx, BuildCachePruneOptions{All: true, KeepStorage: 1024})
	must(err)
	stream(c.Events(ctx, EventsOptions{Since: "1", Filters: Filters{"type": {"container"}}}))
	if r, err := c.RegistryLogin(ctx, registry.AuthConfig{Username: "u", Password: "p", ServerAddress: "s"}); err != nil || r.Status != "Login Succeeded" {
		t.Fatalf("RegistryLogin = %+v, %v", r, err)
	}
	info, raw, err := c.InfoWithRaw(ctx)
	if err != nil || info.Name != "h" || !strings.Contains(string(raw), `"Extra":1`) {
		t.Fatalf("InfoWithRaw = %+v %s, %v", info, raw, err)
	}
	_, err = c.ContainersPrune(ctx, Filters{"until": {"1h"}})
	must(err)
	_, err = c.VolumesPrune(ctx, nil)
	must(err)
	_, err = c.NetworksPrune(ctx, nil)
	must(err)
	stream(c.ContainerLogs(ctx, "c1", LogsOptions{ShowStdout: true, Tail: "all"}))

	platform := url.QueryEscape(`{"architecture":"amd64","os":"linux"}`)
	want := []call{
		{"POST", "/v1.50/images/bb:1/tag", "repo=docker.io%2Flibrary%2Fbb&tag=2", "", ""},
		{"POST", "/v1.50/images/create", "fromImage=bb&tag=1", "X-Registry-Auth=abc", ""},
		{"POST", "/v1.50/images/create", "changes=CMD+a&changes=ENV+b%3Dc&fromSrc=-&repo=x%3A1", "Content-Type=application/x-tar", "tar"},
		{"POST", "/v1.50/images/create", "fromSrc=http%3A%2F%2Fh%2Ft.tar", "", ""},
		{"POST", "/v1.50/images/load", "platform=" + platform + "&quiet=1", "Content-Type=application/x-tar", "tar"},
		{"GET", "/v1.50/images/get", "names=a&names=b", "", ""},
		{"POST", "/v1.50/images/localhost:5000/bb/push", "tag=1", "X-Registry-Auth=e30=", ""},
		{"GET", "/v1.50/images/search", "limit=3&term=bb", "", ""},
		{"DELETE", "/v1.50/images/bb:1", "force=1&platform=" + platform, "", ""},
		{"GET", "/v1.50/images/bb/history", "platform=" + platform, "", ""},
		{"POST", "/v1.50/build", "t=x", "Content-Type=application/x-tar X-Registry-Config=e30=", "ctx"},
		{"POST", "/v1.50/build/prune", "all=1&keep-storage=1024", "", ""},
		{"GET", "/v1.50/events", "filters=" + url.QueryEscape(`{"type":{"container":true}}`) + "&since=1", "", ""},
		{"POST", "/v1.50/auth", "", "Content-Type=application/json", `{"username":"u","password":"p","serveraddress":"s"}`},
		{"GET", "/v1.50/info", "", "", ""},
		{"POST", "/v1.50/containers/prune", "filters=" + url.QueryEscape(`{"until":{"1h":true}}`), "", ""},
		{"POST", "/v1.50/volumes/prune", "", "", ""},
		{"POST", "/v1.50/networks/prune", "", "", ""},
		{"GET", "/v1.50/containers/c1/logs", "stdout=1&tail=all", "", ""},
	}
	if len(got) != len(want) {
		t.Fatalf("%d calls, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("call %d =\n %+v, want\n %+v", i, got[i], want[i])
		}
	}
}

// TestImageBuildQuery pins the encoding of every build option against
// what docker CLI 28 sends for the same flags.
func TestImageBuildQuery(t *testing.T) {
	v := "1"
	for _, tc := range []struct {
		o    ImageBuildOptions
		want string
	}{
		{ImageBuildOptions{Remove: true}, ""},
		{ImageBuildOptions{}, "rm=0"},
		{ImageBuildOptions{Remove: true, Isolation: "default", NetworkMode: "default", Version: "1"}, "version=1"},
		{ImageBuildOptions{
			Tags: []string{"a:1", "b"}, SecurityOpt: []string{"seccomp=unconfined"}, ExtraHosts: []string{"h:1.2.3.4", "g:5.6.7.8"},
			CacheFrom: []string{"c"}, SuppressOutput: true, NoCache: true, ForceRemove: true, PullParent: true, Squash: true,
			Isolation: "process", NetworkMode: "host", CPUSetCPUs: "0", CPUSetMems: "0", CgroupParent: "p",
			Dockerfile: "D", Target: "t", Platform: "Linux/AMD64", CPUShares: 2, CPUQuota: 3, CPUPeriod: 4,
			Memory: 5, MemorySwap: -1, ShmSize: 6, Ulimits: []*container.Ulimit{{Name: "nofile", Soft: 1, Hard: 2}},
			BuildArgs: map[string]*string{"A": &v, "B": nil}, Labels: map[string]string{"l": "x"},
		}, "buildargs=%7B%22A%22%3A%221%22%2C%22B%22%3Anull%7D&cachefrom=%5B%22c%22%5D&cgroupparent=p&cpuperiod=4&cpuquota=3&" +
			"cpusetcpus=0&cpusetmems=0&cpushares=2&dockerfile=D&extrahosts=h%3A1.2.3.4&extrahosts=g%3A5.6.7.8&forcerm=1&isolation=process&" +
			"labels=%7B%22l%22%3A%22x%22%7D&memory=5&memswap=-1&networkmode=host&nocache=1&platform=linux%2Famd64&pull=1&q=1&rm=0&" +
			"securityopt=seccomp%3Dunconfined&shmsize=6&squash=1&t=a%3A1&t=b&target=t&ulimits=%5B%7B%22Name%22%3A%22nofile%22%2C%22Hard%22%3A2%2C%22Soft%22%3A1%7D%5D"},
	} {
		if got := tc.o.Query().Encode(); got != tc.want {
			t.Errorf("Query(%+v) =\n%s\nwant\n%s", tc.o, got, tc.want)
		}
	}
}
