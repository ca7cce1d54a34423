package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/engine"
	mobystdcopy "github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
)

// rawRequest opens a connection and sends a request by hand, as the docker
// CLI does for attach: it keeps the socket to use after the upgrade.
func rawRequest(t *testing.T, ts *testServer, req string) (*net.UnixConn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("unix", ts.sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	return c.(*net.UnixConn), bufio.NewReader(c)
}

func readHead(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	var head strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading head: %v (so far %q)", err, head.String())
		}
		head.WriteString(line)
		if line == "\r\n" {
			return head.String()
		}
	}
}

func TestAttachHijackHalfClose(t *testing.T) {
	ts := startServer(t, &fakeBackend{})
	// Stdin bytes ride in the same write as the request head, so they sit
	// in the server's bufio.Reader when it hijacks; they must not be lost.
	c, br := rawRequest(t, ts, "POST /v1.50/containers/c1/attach?stderr=1&stdin=1&stdout=1&stream=1 HTTP/1.1\r\n"+
		"Host: api.moby.localhost\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: text/plain\r\n\r\nhello ")
	head := readHead(t, br)
	want := "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
	if head != want {
		t.Fatalf("head %q, want %q", head, want)
	}
	if _, err := io.WriteString(c, "world\n"); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatal(err)
	}
	wantBody := "\x01\x00\x00\x00\x00\x00\x00\x10got:hello world\n\x02\x00\x00\x00\x00\x00\x00\x04bye\n"
	if string(rest) != wantBody {
		t.Fatalf("stream %q, want %q", rest, wantBody)
	}
}

func TestAttachVariants(t *testing.T) {
	ts := startServer(t, &fakeBackend{})
	// A TTY target, old API and no Upgrade header: 200 OK, raw stream.
	c, br := rawRequest(t, ts, "POST /v1.41/containers/tty/attach?stdin=1&stdout=1&stream=1 HTTP/1.1\r\nHost: x\r\n\r\n")
	head := readHead(t, br)
	// dockerd's plain answer carries no Upgrade headers.
	if head != "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n" {
		t.Fatalf("head %q", head)
	}
	io.WriteString(c, "x")
	c.CloseWrite()
	rest, _ := io.ReadAll(br)
	if string(rest) != "got:xbye\n" {
		t.Fatalf("raw stream %q", rest)
	}
	// Pre-1.42 non-TTY streams keep the raw-stream type but stay framed.
	_, br = rawRequest(t, ts, "POST /v1.41/containers/c1/attach?stdout=1&stream=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
	if head := readHead(t, br); !strings.Contains(head, "101 UPGRADED") || !strings.Contains(head, "raw-stream") {
		t.Fatalf("1.41 head %q", head)
	}
	// A missing container is a normal HTTP 404, not a hijack.
	resp, body := ts.do(t, http.MethodPost, "/v1.50/containers/missing/attach?stream=1", "")
	expect(t, resp, body, 404, `{"message":"No such container: missing"}`+"\n")
}

func TestExecStart(t *testing.T) {
	ts := startServer(t, &fakeBackend{})
	resp, body := ts.do(t, http.MethodPost, "/v1.50/containers/c1/exec", `{"Cmd":["echo","hi"],"AttachStdout":true}`)
	expect(t, resp, body, 201, `{"Id":"`+strings.Repeat("e", 64)+`"}`+"\n")
	resp, body = ts.do(t, http.MethodPost, "/v1.50/containers/c1/exec", `{"Cmd":[]}`)
	expect(t, resp, body, 400, "")
	resp, body = ts.do(t, http.MethodPost, "/v1.50/exec/x1/start", `{"Detach":true,"Tty":false}`)
	expect(t, resp, body, 200, "")
	resp, body = ts.do(t, http.MethodPost, "/v1.50/exec/missing/start", `{"Detach":false,"Tty":false}`)
	expect(t, resp, body, 404, "")

	req := `{"Detach":false,"Tty":false}`
	c, br := rawRequest(t, ts, "POST /v1.50/exec/x1/start HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"+
		"Content-Type: application/json\r\nContent-Length: "+itoaTest(len(req))+"\r\n\r\n"+req)
	if head := readHead(t, br); !strings.HasPrefix(head, "HTTP/1.1 101 UPGRADED\r\n") {
		t.Fatalf("exec head %q", head)
	}
	c.CloseWrite()
	var out, errb bytes.Buffer
	if _, err := mobystdcopy.StdCopy(&out, &errb, br); err != nil {
		t.Fatal(err)
	}
	if out.String() != "exec-out\n" {
		t.Fatalf("exec stdout %q", out.String())
	}
	resp, body = ts.do(t, http.MethodGet, "/v1.50/exec/x1/json", "")
	expect(t, resp, body, 200, "")
	if !strings.Contains(body, `"ExitCode":3`) {
		t.Fatalf("exec inspect %s", body)
	}
}

func itoaTest(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestLogsFraming(t *testing.T) {
	ts0 := time.Date(2026, 11, 26, 23, 26, 46, 358317660, time.UTC)
	fake := &fakeBackend{logs: []engine.LogMessage{
		{Stream: "stdout", Line: []byte("tick\n"), Time: ts0},
		{Stream: "stderr", Line: []byte("oops\n"), Time: ts0.Add(time.Second)},
		{Stream: "stdout", Line: []byte("round\n"), Time: time.Date(2026, 11, 26, 23, 26, 48, 0, time.UTC)},
	}}
	ts := startServer(t, fake)
	resp, body := ts.do(t, http.MethodGet, "/v1.50/containers/c1/logs?follow=1&stderr=1&stdout=1&tail=2&timestamps=1", "")
	want := "\x01\x00\x00\x00\x00\x00\x00\x24" + "2026-11-26T23:26:46.358317660Z tick\n" +
		"\x02\x00\x00\x00\x00\x00\x00\x24" + "2026-11-26T23:26:47.358317660Z oops\n" +
		"\x01\x00\x00\x00\x00\x00\x00\x25" + "2026-11-26T23:26:48.000000000Z round\n"
	expect(t, resp, body, 200, want)
	if ct := resp.Header.Get("Content-Type"); ct != "application/vnd.docker.multiplexed-stream" {
		t.Fatalf("logs content type %q", ct)
	}
	resp, body = ts.do(t, http.MethodGet, "/v1.41/containers/c1/logs?stdout=1", "")
	expect(t, resp, body, 200, "\x01\x00\x00\x00\x00\x00\x00\x05tick\n\x02\x00\x00\x00\x00\x00\x00\x05oops\n\x01\x00\x00\x00\x00\x00\x00\x06round\n")
	if ct := resp.Header.Get("Content-Type"); ct != "application/vnd.docker.raw-stream" {
		t.Fatalf("1.41 logs content type %q", ct)
	}
	fake.logsTTY = true
	resp, body = ts.do(t, http.MethodGet, "/v1.50/containers/c1/logs?stdout=1&stderr=1", "")
	expect(t, resp, body, 200, "tick\noops\nround\n")
	resp, body = ts.do(t, http.MethodGet, "/v1.50/containers/c1/logs", "")
	expect(t, resp, body, 400, `{"message":"Bad parameters: you must choose at least one stream"}`+"\n")
}

func TestWaitFlushesHeadersFirst(t *testing.T) {
	fake := &fakeBackend{waitCh: make(chan container.WaitResponse, 1)}
	ts := startServer(t, fake)
	_, br := rawRequest(t, ts, "POST /v1.50/containers/c1/wait?condition=next-exit HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
	// The head must arrive while the container is still "running".
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("wait head %d %v", resp.StatusCode, resp.Header)
	}
	fake.waitCh <- container.WaitResponse{StatusCode: 3}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"Error":null,"StatusCode":3}`+"\n" {
		t.Fatalf("wait body %q", b)
	}
	r2, body := ts.do(t, http.MethodPost, "/containers/c1/wait?condition=bogus", "")
	expect(t, r2, body, 400, "")
	r2, body = ts.do(t, http.MethodPost, "/containers/missing/wait", "")
	expect(t, r2, body, 404, "")
}

func TestStatsAndEvents(t *testing.T) {
	ts := startServer(t, &fakeBackend{events: []events.Message{{
		Type: events.ContainerEventType, Action: events.ActionDie, Scope: "local", Time: 1795736309, TimeNano: 1795736309000000001,
		Actor: events.Actor{ID: "old", Attributes: map[string]string{"image": "busybox", "exitCode": "0"}},
	}}})
	resp, body := ts.do(t, http.MethodGet, "/v1.50/containers/c1/stats?stream=0", "")
	expect(t, resp, body, 200, "")
	if resp.Header.Get("Content-Length") == "" || strings.Count(body, "\n") != 1 {
		t.Fatalf("one-shot stats: CL %q body %q", resp.Header.Get("Content-Length"), body)
	}
	resp, body = ts.do(t, http.MethodGet, "/v1.50/containers/c1/stats", "")
	expect(t, resp, body, 200, "")
	if n := strings.Count(body, "\n"); n != 3 {
		t.Fatalf("streamed stats: %d lines", n)
	}
	resp, body = ts.do(t, http.MethodGet, "/v1.50/containers/missing/stats?stream=1", "")
	expect(t, resp, body, 404, "")

	until := time.Now().Add(300*time.Millisecond).Unix() + 1
	start := time.Now()
	resp, body = ts.do(t, http.MethodGet, "/v1.50/events?until="+itoaTest(int(until))+`&filters={"type":{"container":true}}`, "")
	expect(t, resp, body, 200, "")
	past := `{"status":"die","id":"old","from":"busybox","Type":"container","Action":"die","Actor":{"ID":"old","Attributes":{"exitCode":"0","image":"busybox"}},"scope":"local","time":1795736309,"timeNano":1795736309000000001}` + "\n"
	if !strings.HasPrefix(body, past) {
		t.Fatalf("past event: %q", body)
	}
	if !strings.Contains(body, `{"status":"start","id":"live","Type":"container","Action":"start","Actor":{"ID":"live","Attributes":null}}`+"\n") {
		t.Fatalf("events body %q", body)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("events did not end at until")
	}
}

// TestShutdownEndsLongPolls checks that a cancelled Serve returns promptly
// even while a client holds an events stream open.
func TestShutdownEndsLongPolls(t *testing.T) {
	fake := &fakeBackend{waitCh: make(chan container.WaitResponse)}
	sock := t.TempDir() + "/api.sock"
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := NewServer(fake.backends(), Options{ShutdownTimeout: 30 * time.Second})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	ts := &testServer{sock: sock}
	_, br := rawRequest(t, ts, "POST /containers/c1/wait HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, err := http.ReadResponse(br, nil); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Serve returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve still waiting for a long poll")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
}
