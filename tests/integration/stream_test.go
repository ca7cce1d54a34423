package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-project/berth/tests/testutil"
)

// Attached streams never lose or reorder a byte, however slowly the client
// reads: the container is held back (a full pipe) rather than its output
// dropped, as dockerd does. Each case has the container write a digest line
// ("SUM <sha256>") and then the data; the reader pauses after the digest
// line, while the container is still writing, then reads in small steps,
// and compares. Raw random bytes go through the non-TTY streams; TTY cases
// and every check of the json-file log use base64 text, since a terminal
// rewrites "\n" and the json-file log stores text, not bytes (dockerd too).
func TestStreamSlowReaders(t *testing.T) { forEachDriver(t, streamScenarios) }

const (
	streamBinary = "head -c 20000000 /dev/urandom > /tmp/d; "
	streamText   = "head -c 15000000 /dev/urandom | base64 > /tmp/d; "
	// streamWait holds the data until the test has attached and touched /tmp/go.
	streamWait = "until [ -e /tmp/go ]; do echo waiting; sleep 0.1; done; "
	streamEmit = "set -- $(sha256sum /tmp/d); echo SUM $1; cat /tmp/d"
)

// The data makes ~36 MB of json-file entries. streamOneLog keeps them in
// one file (berthd's default, 10m x 3, would rotate the oldest part away;
// dockerd's default never rotates); streamRotated rotates once or twice
// within them and keeps everything, so followers cross rotations.
var (
	streamOneLog  = []string{"--log-opt", "max-size=100m"}
	streamRotated = []string{"--log-opt", "max-size=20m", "--log-opt", "max-file=3"}
)

var streamScenarios = []scenario{
	{"run-binary", func(c *tcase) {
		c.slowStream(false, runArgs("--rm", "busybox", "sh", "-c", streamBinary+streamEmit)...)
	}},
	{"run-tty", func(c *tcase) {
		c.slowStream(true, runArgs("--rm", "-t", "busybox", "sh", "-c", streamText+streamEmit)...)
	}},
	{"start-attach-binary", func(c *tcase) {
		n := c.name("sta")
		c.ok(createArgs("--name", n, "busybox", "sh", "-c", streamBinary+streamEmit)...)
		c.slowStream(false, "start", "-a", n)
	}},
	{"attach-binary", func(c *tcase) {
		n := c.detached("att", nil, "sh", "-c", streamBinary+streamWait+streamEmit)
		s := c.startStream(false, "attach", n)
		s.waitWaiting()
		c.ok("exec", n, "touch", "/tmp/go")
		s.check()
	}},
	{"attach-tty", func(c *tcase) {
		n := c.detached("attt", []string{"-t"}, "sh", "-c", streamText+streamWait+streamEmit)
		s := c.startStream(true, "attach", "--no-stdin", n)
		s.waitWaiting()
		c.ok("exec", n, "touch", "/tmp/go")
		s.check()
	}},
	{"exec-binary", func(c *tcase) {
		n := c.sleeper("exb")
		c.slowStream(false, "exec", n, "sh", "-c", streamBinary+streamEmit)
	}},
	{"exec-tty", func(c *tcase) {
		n := c.sleeper("ext")
		c.slowStream(true, "exec", "-t", n, "sh", "-c", streamText+streamEmit)
	}},
	{"logs-follow", func(c *tcase) {
		// The container finishes long before the slow follower does:
		// following must go on to the end of the log, not stop at the exit.
		n := c.detached("lgf", streamOneLog, "sh", "-c", streamText+streamEmit)
		c.slowStream(false, "logs", "-f", n)
		c.waitExit(n)
		c.checkJSONLog(n, false)
	}},
	{"logs-follow-tty", func(c *tcase) {
		n := c.detached("lgt", append([]string{"-t"}, streamOneLog...), "sh", "-c", streamText+streamEmit)
		c.slowStream(true, "logs", "-f", n)
		c.waitExit(n)
		c.checkJSONLog(n, true)
	}},
	{"logs-follow-rotated", func(c *tcase) {
		// Berth's follower reads every file still kept after it fell
		// behind by a rotation; dockerd 20.10's goes on with the newest
		// file and loses the ones in between (~10 of 20 MB here).
		if env.daemon.Target == testutil.TargetDockerd {
			c.Skip("dockerd 20.10's follower skips files rotated while it lags")
		}
		n := c.detached("lgr", streamRotated, "sh", "-c", streamText+streamEmit)
		c.slowStream(false, "logs", "-f", n)
		c.waitExit(n)
		c.checkJSONLog(n, false)
	}},
	{"five-attachers", func(c *tcase) {
		n := c.detached("att5", streamRotated, "sh", "-c", streamText+streamWait+streamEmit)
		var ss []*streamRun
		for range 5 {
			ss = append(ss, c.startStream(false, "attach", n))
		}
		for _, s := range ss {
			s.waitWaiting()
		}
		c.ok("exec", n, "touch", "/tmp/go")
		var wg sync.WaitGroup
		for _, s := range ss {
			wg.Add(1)
			go func() { defer wg.Done(); s.check() }()
		}
		wg.Wait()
		c.waitExit(n)
		c.checkJSONLog(n, false)
	}},
}

// slowStream runs the CLI and checks its stdout slowly (see streamRun).
func (c *tcase) slowStream(tty bool, args ...string) {
	c.Helper()
	c.startStream(tty, args...).check()
}

// streamRun is one CLI whose stdout a slow reader checks.
type streamRun struct {
	c       *tcase
	args    []string
	cmd     *exec.Cmd
	stderr  bytes.Buffer
	waiting chan struct{} // closed at the first "waiting" line
	done    chan struct{}
	res     streamResult
}

type streamResult struct {
	want, got string // the container's digest and the digest of what came
	n         int64
	err       error
}

func (c *tcase) startStream(tty bool, args ...string) *streamRun {
	c.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 2*time.Minute)
	c.Cleanup(cancel)
	s := &streamRun{c: c, args: args, cmd: c.dr.Command(ctx, args...),
		waiting: make(chan struct{}), done: make(chan struct{})}
	s.cmd.Stderr = &s.stderr
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		c.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		c.Fatalf("start %v: %v", args, err)
	}
	go func() {
		defer close(s.done)
		s.res = readStream(out, tty, true, s.waiting)
		io.Copy(io.Discard, out)
	}()
	return s
}

func (s *streamRun) waitWaiting() {
	s.c.Helper()
	select {
	case <-s.waiting:
	case <-s.done:
		s.c.Fatalf("%v ended before the container waited: %v, stderr: %s", s.args, s.res.err, s.stderr.String())
	}
}

// check waits for the CLI and compares what it printed with the digest.
func (s *streamRun) check() {
	s.c.Helper()
	<-s.done
	err := s.cmd.Wait()
	r := s.res
	if r.err != nil || err != nil || r.want == "" || r.want != r.got {
		s.c.Errorf("%v: exit %v, read error %v; %d bytes, sha256 %s, container's %s; stderr: %s",
			s.args, err, r.err, r.n, r.got, r.want, s.stderr.String())
	}
}

// readStream skips "waiting" lines up to the "SUM <digest>" line, then
// hashes the rest; when slow, it first pauses as a busy reader would and
// then reads in small steps with naps. A
// terminal turns "\n" into "\r\n": with tty every "\r" is dropped (base64
// text has none).
func readStream(r io.Reader, tty, slow bool, waiting chan struct{}) (res streamResult) {
	br := bufio.NewReaderSize(r, 4096)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			res.err = fmt.Errorf("no SUM line (last %q): %w", line, err)
			return res
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "waiting" {
			select {
			case <-waiting:
			default:
				close(waiting)
			}
			continue
		}
		if sum, ok := strings.CutPrefix(line, "SUM "); ok {
			res.want = sum
			break
		}
		res.err = fmt.Errorf("unexpected line before the data: %q", line)
		return res
	}
	if slow {
		// The container goes on writing meanwhile, until its pipe is full.
		time.Sleep(2 * time.Second)
	}
	h := sha256.New()
	buf := make([]byte, 16<<10)
	var sinceNap int
	for {
		n, err := br.Read(buf)
		data := buf[:n]
		if tty {
			data = bytes.ReplaceAll(data, []byte("\r"), nil)
		}
		h.Write(data)
		res.n += int64(len(data))
		if sinceNap += n; slow && sinceNap >= 1<<20 {
			sinceNap = 0
			time.Sleep(50 * time.Millisecond)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			res.err = err
			break
		}
	}
	res.got = hex.EncodeToString(h.Sum(nil))
	return res
}

// checkJSONLog reads the container's json-file log from disk (the rotated
// files oldest first, then the current one) and checks that its stdout
// entries hold the digest line and all the data after it.
func (c *tcase) checkJSONLog(name string, tty bool) {
	c.Helper()
	path := c.inspect(name, "{{.LogPath}}")
	var files []string
	for i := 9; i > 0; i-- {
		if _, err := os.Stat(fmt.Sprintf("%s.%d", path, i)); err == nil {
			files = append(files, fmt.Sprintf("%s.%d", path, i))
		}
	}
	files = append(files, path)
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(logStdout(files, pw)) }()
	r := readStream(pr, tty, false, make(chan struct{}))
	pr.Close()
	if r.err != nil || r.want == "" || r.want != r.got {
		c.Errorf("json-file log %v: error %v; %d bytes, sha256 %s, container's %s", files, r.err, r.n, r.got, r.want)
	}
}

// logStdout writes the stdout entries of json-file logs to w, in order.
func logStdout(files []string, w io.Writer) error {
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		dec := json.NewDecoder(bufio.NewReader(f))
		for {
			var e struct{ Log, Stream string }
			if err = dec.Decode(&e); err != nil {
				break
			}
			if e.Stream == "stdout" {
				if _, err = io.WriteString(w, e.Log); err != nil {
					break
				}
			}
		}
		f.Close()
		if err != io.EOF {
			return err
		}
	}
	return nil
}
