package integration

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/tests/testutil"
)

// hijackAttach attaches to name with stdin over a raw upgraded connection,
// writes input, waits (up to 10 s) for want to come back, closes its write
// side and returns what came back before the daemon ended the stream, and
// whether it ended within d. Raw on purpose: the test is about the upgrade
// and the half-close on the wire. The input is closed only once its answer
// arrived: a fixed pause could end before a shell slowed by a loaded
// machine answered, and the answer would then be lost with the stream.
func hijackAttach(t *testing.T, name, input, want string, d time.Duration) (string, bool) {
	t.Helper()
	conn, err := net.Dial("unix", env.daemon.Sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1.41/containers/%s/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: x\r\n"+
		"Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n", name)
	br := bufio.NewReader(conn)
	status, err := br.ReadString('\n')
	if err != nil || !strings.Contains(status, " 101 ") {
		t.Fatalf("attach: %q %v", status, err)
	}
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if l == "\r\n" {
			break
		}
	}
	time.Sleep(300 * time.Millisecond)
	var out syncBuffer
	readErr := make(chan error, 1)
	go func() { _, err := io.Copy(&out, br); readErr <- err }()
	io.WriteString(conn, input)
	for deadline := time.Now().Add(10 * time.Second); len(readErr) == 0 && !strings.Contains(out.String(), want) && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if err := conn.(*net.UnixConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(d))
	err = <-readErr
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return out.String(), false
	}
	return out.String(), true
}

// The end of the client's input ends an attach to a container with a
// terminal, or without one when stdin is not StdinOnce; the container runs
// on. (With StdinOnce and no terminal it ends the container's input
// instead: `echo x | docker run -i`, covered by the run tests.) Checked on
// both engines.
func TestAttachEndsWithInput(t *testing.T) {
	if env == nil {
		t.Skip("no daemon")
	}
	c := newCase(t, testutil.DockerDriver(env.daemon, env.cfgDir))
	for _, tt := range []struct {
		name string
		flag string
	}{{"tty", "-dit"}, {"no-tty", "-di"}} {
		t.Run(tt.name, func(t *testing.T) {
			c := newCase(t, c.dr)
			n := c.name("att")
			c.ok(runArgs(tt.flag, "--name", n, "busybox", "sh")...)
			out, ended := hijackAttach(t, n, "echo hi-there\n", "hi-there", 10*time.Second)
			if !ended {
				t.Fatalf("the attach did not end after the client closed its input; got %q", out)
			}
			c.wantContains(out, "hi-there", "output before the end")
			c.wantEq(c.inspect(n, "{{.State.Status}}"), "running", "the container runs on")
			// Attaching again still works.
			out, ended = hijackAttach(t, n, "echo again\n", "again", 10*time.Second)
			if !ended || !strings.Contains(out, "again") {
				t.Errorf("second attach: ended %v, %q", ended, out)
			}
		})
	}
}
