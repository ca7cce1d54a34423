package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/errdefs"
)

// testServer runs a Server over a real unix socket, as berthd does.
type testServer struct {
	sock   string
	client *http.Client
	fake   *fakeBackend
}

func startServer(t *testing.T, fake *fakeBackend) *testServer {
	t.Helper()
	return startServerWith(t, fake, fake.backends(), Options{Version: "0.0.1-test", GitCommit: "abc1234", ShutdownTimeout: time.Second})
}

func startServerWith(t *testing.T, fake *fakeBackend, be Backends, opts Options) *testServer {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "api.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := NewServer(be, opts)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after cancel")
		}
	})
	return &testServer{sock: sock, client: &http.Client{Transport: tr}, fake: fake}
}

func (ts *testServer) do(t *testing.T, method, path, body string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://api.moby.localhost"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := ts.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func expect(t *testing.T, resp *http.Response, body string, status int, wantBody string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d (body %q)", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, status, body)
	}
	if wantBody != "" && body != wantBody {
		t.Fatalf("%s %s: body %q, want %q", resp.Request.Method, resp.Request.URL.Path, body, wantBody)
	}
}

func TestPingAndHeaders(t *testing.T) {
	ts := startServer(t, &fakeBackend{})
	for _, m := range []string{http.MethodHead, http.MethodGet} {
		resp, body := ts.do(t, m, "/_ping", "")
		want := map[string]string{
			"Api-Version":         "1.50",
			"Docker-Experimental": "false",
			"Ostype":              "linux",
			"Server":              "Docker/0.0.1-test (linux)",
			"Cache-Control":       "no-cache, no-store, must-revalidate",
			"Pragma":              "no-cache",
			"Builder-Version":     "1",
			"Swarm":               "inactive",
			"Content-Type":        "text/plain; charset=utf-8",
		}
		for k, v := range want {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("%s /_ping header %s = %q, want %q", m, k, got, v)
			}
		}
		if m == http.MethodHead {
			expect(t, resp, body, 200, "")
			if resp.Header.Get("Content-Length") != "0" || body != "" {
				t.Fatalf("HEAD /_ping: Content-Length %q body %q", resp.Header.Get("Content-Length"), body)
			}
		} else {
			expect(t, resp, body, 200, "OK")
		}
	}
	// Every response, errors included, carries the version headers.
	resp, _ := ts.do(t, http.MethodGet, "/v1.50/containers/missing/json", "")
	if resp.Header.Get("Api-Version") != "1.50" || resp.Header.Get("Server") != "Docker/0.0.1-test (linux)" {
		t.Fatalf("error response lacks headers: %v", resp.Header)
	}
}

func TestVersionWindow(t *testing.T) {
	ts := startServer(t, &fakeBackend{})
	for _, p := range []string{"/version", "/v1.24/version", "/v1.41/version", "/v1.50/version"} {
		resp, body := ts.do(t, http.MethodGet, p, "")
		expect(t, resp, body, 200, "")
		var v struct{ ApiVersion, MinAPIVersion string }
		if err := json.Unmarshal([]byte(body), &v); err != nil || v.ApiVersion != "1.50" || v.MinAPIVersion != "1.24" {
			t.Fatalf("%s: %q %v", p, body, err)
		}
	}
	resp, body := ts.do(t, http.MethodGet, "/v1.51/version", "")
	expect(t, resp, body, 400, `{"message":"client version 1.51 is too new. Maximum supported API version is 1.50"}`+"\n")
	if resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("error content type %q", resp.Header.Get("Content-Type"))
	}
	resp, body = ts.do(t, http.MethodGet, "/v1.12/containers/json", "")
	expect(t, resp, body, 400, `{"message":"client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version"}`+"\n")
	resp, body = ts.do(t, http.MethodGet, "/v1.9/version", "")
	expect(t, resp, body, 400, "")
}

func TestNotFoundRoute(t *testing.T) {
	ts := startServer(t, &fakeBackend{})
	for _, c := range [][2]string{{"GET", "/nope"}, {"GET", "/v1.50/containers/x/bogus"}, {"PATCH", "/containers/json"}} {
		resp, body := ts.do(t, c[0], c[1], "")
		expect(t, resp, body, 404, `{"message":"page not found"}`+"\n")
	}
}

func TestErrorMapping(t *testing.T) {
	cases := []struct {
		err    error
		status int
	}{
		{errdefs.NotFoundf("No such container: x"), 404},
		{errdefs.Invalidf("bad"), 400},
		{errdefs.Conflictf("clash"), 409},
		{errdefs.NotModified(errors.New("already started")), 304},
		{errdefs.Unauthorized(errors.New("who")), 401},
		{errdefs.Forbidden(errors.New("no")), 403},
		{errdefs.Unavailable(errors.New("later")), 503},
		{errdefs.NotImplemented(errors.New("someday")), 501},
		{errors.New("plain"), 500},
		{fmtWrap(errdefs.Conflictf("deep")), 409},
	}
	fake := &fakeBackend{}
	ts := startServer(t, fake)
	for _, c := range cases {
		fake.startErr = c.err
		resp, body := ts.do(t, http.MethodPost, "/v1.50/containers/c1/start", "")
		if c.status == 304 {
			expect(t, resp, body, 304, "")
			if body != "" {
				t.Fatalf("304 with body %q", body)
			}
			continue
		}
		b, _ := json.Marshal(errorBody{Message: c.err.Error()})
		expect(t, resp, body, c.status, string(b)+"\n")
	}
	fake.startErr = nil
	resp, body := ts.do(t, http.MethodPost, "/v1.50/containers/c1/start", "")
	expect(t, resp, body, 204, "")
}

func fmtWrap(err error) error { return errors.Join(errors.New("outer"), err) }

func TestCreateValidation(t *testing.T) {
	fake := &fakeBackend{}
	ts := startServer(t, fake)
	resp, body := ts.do(t, http.MethodPost, "/v1.50/containers/create?name=c1", `{"Image":"busybox","Cmd":["true"]}`)
	expect(t, resp, body, 201, `{"Id":"`+strings.Repeat("c", 64)+`","Warnings":[]}`+"\n")
	resp, body = ts.do(t, http.MethodPost, "/containers/create?name=a%20b", `{"Image":"busybox"}`)
	expect(t, resp, body, 400, `{"message":"Invalid container name (a b), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"}`+"\n")
	resp, body = ts.do(t, http.MethodPost, "/containers/create", `{"Image":`)
	expect(t, resp, body, 400, "")
	if !strings.Contains(body, "invalid JSON: unexpected EOF") {
		t.Fatalf("malformed JSON body %q", body)
	}
	resp, body = ts.do(t, http.MethodPost, "/containers/create", `{"Image":"busybox"}x`)
	expect(t, resp, body, 201, "")
	resp, body = ts.do(t, http.MethodPost, "/containers/create", "")
	expect(t, resp, body, 400, "")
}

func TestQueryParsing(t *testing.T) {
	fake := &fakeBackend{}
	ts := startServer(t, fake)
	// docker-compose 1.29's exact query: legacy list filters, Python bools.
	q := `/v1.50/containers/json?limit=-1&all=1&size=0&trunc_cmd=0&filters=%7B%22label%22%3A+%5B%22com.docker.compose.project%3Dp%22%2C+%22com.docker.compose.oneoff%3DFalse%22%5D%7D`
	resp, body := ts.do(t, http.MethodGet, q, "")
	expect(t, resp, body, 200, "")
	got := fake.lastList
	if !got.All || got.Size || got.Limit != -1 || !got.Filters.ExactMatch("label", "com.docker.compose.oneoff=False") || len(got.Filters["label"]) != 2 {
		t.Fatalf("list options %+v", got)
	}
	resp, body = ts.do(t, http.MethodGet, `/containers/json?filters={"status":{"running":true}}&all=True`, "")
	expect(t, resp, body, 200, "")
	if !fake.lastList.All || !fake.lastList.Filters.Contains("status") {
		t.Fatalf("map-form filters %+v", fake.lastList)
	}
	resp, body = ts.do(t, http.MethodDelete, "/v1.50/containers/c1?v=True&link=False&force=False", "")
	expect(t, resp, body, 204, "")
	resp, body = ts.do(t, http.MethodDelete, "/containers/c1?force=maybe", "")
	expect(t, resp, body, 400, "")
	resp, body = ts.do(t, http.MethodGet, "/containers/json?limit=ten", "")
	expect(t, resp, body, 400, "")
	resp, body = ts.do(t, http.MethodGet, `/containers/json?filters={"a":`, "")
	expect(t, resp, body, 400, "")
	resp, body = ts.do(t, http.MethodPost, "/containers/c1/stop?t=1", "")
	expect(t, resp, body, 204, "")
	if fake.lastStop == nil || *fake.lastStop != 1 {
		t.Fatalf("stop timeout %v", fake.lastStop)
	}
	resp, body = ts.do(t, http.MethodPost, "/containers/c1/stop?timeout=7", "")
	expect(t, resp, body, 204, "")
	if fake.lastStop == nil || *fake.lastStop != 7 {
		t.Fatalf("stop timeout %v", fake.lastStop)
	}
	resp, body = ts.do(t, http.MethodPost, "/containers/c1/stop", "")
	expect(t, resp, body, 204, "")
	if fake.lastStop != nil {
		t.Fatalf("absent t gave %v", *fake.lastStop)
	}
	resp, body = ts.do(t, http.MethodPost, "/containers/c1/pause", "")
	expect(t, resp, body, 409, `{"message":"Container c1 is not running"}`+"\n")
}

func TestImageRoutes(t *testing.T) {
	fake := &fakeBackend{}
	ts := startServer(t, fake)
	resp, body := ts.do(t, http.MethodGet, "/v1.50/images/127.0.0.1:15000/demo/bb:v1/json", "")
	expect(t, resp, body, 200, "")
	if fake.lastImage != "127.0.0.1:15000/demo/bb:v1" {
		t.Fatalf("inspect name %q", fake.lastImage)
	}
	var img map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &img); err != nil {
		t.Fatal(err)
	}
	// API 1.45 dropped Container, 1.44 VirtualSize; ContainerConfig stays
	// for docker-compose 1.29, which negotiates the newest version.
	if _, ok := img["Container"]; ok {
		t.Fatalf("Container at 1.50: %s", body)
	}
	if string(img["ContainerConfig"]) != string(img["Config"]) {
		t.Fatalf("ContainerConfig at 1.50: %s", body)
	}
	if _, ok := img["VirtualSize"]; ok {
		t.Fatalf("VirtualSize at 1.50: %s", body)
	}
	// docker-compose 1.29 speaks 1.38 and reads ContainerConfig.
	_, body = ts.do(t, http.MethodGet, "/v1.38/images/127.0.0.1:15000/demo/bb:v1/json", "")
	img = nil
	if err := json.Unmarshal([]byte(body), &img); err != nil {
		t.Fatal(err)
	}
	if string(img["ContainerConfig"]) != string(img["Config"]) || !strings.Contains(string(img["ContainerConfig"]), `"/data"`) {
		t.Fatalf("ContainerConfig %s vs Config %s", img["ContainerConfig"], img["Config"])
	}
	if string(img["VirtualSize"]) != "1234" || string(img["Size"]) != "1234" {
		t.Fatalf("VirtualSize %s", img["VirtualSize"])
	}
	_, body = ts.do(t, http.MethodGet, "/v1.41/images/noconfig/json", "")
	if !strings.Contains(body, `"ContainerConfig":{"`) {
		t.Fatalf("image without config: %s", body)
	}

	resp, body = ts.do(t, http.MethodDelete, "/v1.50/images/mytest/bb:t1?force=1", "")
	expect(t, resp, body, 200, `[{"Untagged":"mytest/bb:t1"}]`+"\n")
	resp, body = ts.do(t, http.MethodPost, "/v1.50/images/busybox/tag?repo=docker.io%2Fmytest%2Fbb&tag=t1", "")
	expect(t, resp, body, 201, "")
	if fake.lastTag != [3]string{"busybox", "docker.io/mytest/bb", "t1"} {
		t.Fatalf("tag %q", fake.lastTag)
	}
	resp, body = ts.do(t, http.MethodPost, "/v1.50/images/127.0.0.1:15000/demo/bb/push?tag=v1", "")
	expect(t, resp, body, 501, "")
	resp, body = ts.do(t, http.MethodPost, "/v1.50/images/create?fromImage=busybox&tag=latest&platform=linux%2Famd64", "")
	expect(t, resp, body, 200, "{\"status\":\"Pulling from busybox\",\"id\":\"latest\"}\r\n")
	if fake.lastPull != [4]string{"busybox", "latest", "linux/amd64", ""} {
		t.Fatalf("pull %q", fake.lastPull)
	}
	resp, body = ts.do(t, http.MethodPost, "/v1.50/images/create?fromImage=busybox&tag=nope", "")
	expect(t, resp, body, 404, "")
	resp, body = ts.do(t, http.MethodGet, "/images/json", "")
	expect(t, resp, body, 200, "[]\n")
	resp, body = ts.do(t, http.MethodGet, "/images/get?names=busybox%3Alatest&names=rb%3Adir", "")
	expect(t, resp, body, 200, "busybox:latest,rb:dir")
	resp, body = ts.do(t, http.MethodGet, "/images/reg:5000/x/get", "")
	expect(t, resp, body, 200, "reg:5000/x")
	if resp.Header.Get("Content-Type") != "application/x-tar" {
		t.Fatalf("save content type %q", resp.Header.Get("Content-Type"))
	}
}

func TestImportAndLoadStreams(t *testing.T) {
	fake := &fakeBackend{}
	ts := startServer(t, fake)
	p := "/v1.50/images/create?changes=ENV+IMPORTED%3D1&fromSrc=-&message=msg&repo=imp%3A1"
	resp, body := ts.do(t, http.MethodPost, p, "tar")
	expect(t, resp, body, 200, `{"status":"sha256:`+strings.Repeat("5", 64)+`"}`+"\r\n")
	if resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("import content type %q", resp.Header.Get("Content-Type"))
	}
	if last := fake.calls[len(fake.calls)-1]; last != `import - imp:1 ["ENV IMPORTED=1"]` {
		t.Fatalf("import call %q", last)
	}
	// Failing before any output: a plain HTTP error.
	resp, body = ts.do(t, http.MethodPost, p, "bad")
	expect(t, resp, body, 400, `{"message":"archive/tar: invalid tar header"}`+"\n")
	// Failing after output: the error goes into the stream.
	resp, body = ts.do(t, http.MethodPost, p, "fail-late")
	expect(t, resp, body, 200, "")
	if !strings.HasSuffix(body, `{"errorDetail":{"message":"tagging failed"},"error":"tagging failed"}`+"\r\n") {
		t.Fatalf("late error body %q", body)
	}
	resp, body = ts.do(t, http.MethodPost, "/v1.50/images/load?quiet=1", "tar")
	expect(t, resp, body, 200, `{"stream":"Loaded image: busybox:latest\n"}`+"\r\n")
}

func TestCommitAndArchive(t *testing.T) {
	fake := &fakeBackend{}
	ts := startServer(t, fake)
	resp, body := ts.do(t, http.MethodPost, "/commit?container=c1&repo=img&tag=v2&changes=ENV+A%3D1&changes=CMD+sh&pause=0", `{"Cmd":["sh"]}`)
	expect(t, resp, body, 201, `{"Id":"sha256:`+strings.Repeat("d", 64)+`"}`+"\n")
	if last := fake.calls[len(fake.calls)-1]; last != `commit c1 img:v2 pause=false changes=["ENV A=1" "CMD sh"]` {
		t.Fatalf("commit call %q", last)
	}
	resp, body = ts.do(t, http.MethodHead, "/containers/c1/archive?path=/tmp/a.txt", "")
	expect(t, resp, body, 200, "")
	if h := resp.Header.Get("X-Docker-Container-Path-Stat"); h != "eyJuYW1lIjoiYS50eHQiLCJzaXplIjozLCJtb2RlIjo0MjAsIm10aW1lIjoiMDAwMS0wMS0wMVQwMDowMDowMFoiLCJsaW5rVGFyZ2V0IjoiIn0=" {
		t.Fatalf("path stat header %q", h)
	}
	resp, body = ts.do(t, http.MethodHead, "/containers/missing/archive?path=/tmp/a.txt", "")
	expect(t, resp, body, 404, "")
	resp, body = ts.do(t, http.MethodGet, "/containers/c1/archive?path=/tmp/a.txt", "")
	expect(t, resp, body, 200, "tar")
	resp, body = ts.do(t, http.MethodPut, "/containers/c1/archive?noOverwriteDirNonDir=true&path=/tmp", "TARDATA")
	expect(t, resp, body, 200, "")
	if last := fake.calls[len(fake.calls)-1]; last != "extract c1 /tmp noOverwrite=true TARDATA" {
		t.Fatalf("extract call %q", last)
	}
	resp, body = ts.do(t, http.MethodGet, "/containers/c1/archive", "")
	expect(t, resp, body, 400, "")
	resp, body = ts.do(t, http.MethodGet, "/containers/c1/export", "")
	expect(t, resp, body, 200, "tar-bytes")
	resp, body = ts.do(t, http.MethodGet, "/containers/missing/export", "")
	expect(t, resp, body, 404, `{"message":"No such container: missing"}`+"\n")
	if resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("404 export content type %q", resp.Header.Get("Content-Type"))
	}
}
