package builder

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/berth-project/berth/internal/buildcontext"
	"github.com/docker/go-units"
)

// lockedWriter serializes writes: the context upload reports progress from
// the HTTP transport's goroutine while the response is rendered from ours.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// syncBuffer is a bytes.Buffer safe for that same use (-q keeps the
// output to show it only on failure).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// countingReader reports how much has been read through it to fn.
type countingReader struct {
	r    io.Reader
	n    int64
	fn   buildcontext.ProgressFunc
	done bool
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.done {
		return n, err
	}
	if err != nil {
		c.done = true
	} else if n == 0 {
		return n, err
	}
	c.fn(c.n, -1, c.done)
	return n, err
}

// progressLine renders a transfer like docker's progress output: on a
// terminal one line updated in place (at most ten times a second); otherwise
// only the final state, as docker prints it ("...\r\r\n").
func progressLine(w io.Writer, action string, tty bool) buildcontext.ProgressFunc {
	var last time.Time
	return func(n, total int64, done bool) {
		if !tty {
			if done {
				fmt.Fprintf(w, "%s %s\r\r\n", action, progressText(n, total))
			}
			return
		}
		if !done && time.Since(last) < 100*time.Millisecond {
			return
		}
		last = time.Now()
		end := ""
		if done {
			end = "\n"
		}
		fmt.Fprintf(w, "\r%s %s%s", action, progressText(n, total), end)
	}
}

// progressText is docker's JSONProgress text: the size alone when the
// total is unknown, else a 50-column bar and "current/total".
func progressText(n, total int64) string {
	if total <= 0 {
		return fmt.Sprintf("%8v", units.HumanSize(float64(n)))
	}
	pct := min(int(float64(n)/float64(total)*100)/2, 50)
	bar := "[" + strings.Repeat("=", pct) + ">" + strings.Repeat(" ", 50-pct) + "] "
	return bar + fmt.Sprintf("%8v/%v", units.HumanSize(float64(n)), units.HumanSize(float64(total)))
}

// buildLogKeep is how many build logs are kept in the cache directory.
const buildLogKeep = 20

// newBuildLog creates the file that keeps a terminal build's full output
// ($XDG_CACHE_HOME/berth/build-logs or ~/.cache/...), dropping the oldest
// logs beyond buildLogKeep.
func newBuildLog() (*os.File, string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return nil, "", err
	}
	dir := filepath.Join(cache, "berth", "build-logs")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", err
	}
	if old, _ := filepath.Glob(filepath.Join(dir, "build-*.log")); len(old) >= buildLogKeep {
		sort.Strings(old) // names start with the time, so this is oldest first
		for _, p := range old[:len(old)-buildLogKeep+1] {
			os.Remove(p)
		}
	}
	f, err := os.CreateTemp(dir, "build-"+time.Now().UTC().Format("20060102-150405")+"-*.log")
	if err != nil {
		return nil, "", err
	}
	return f, f.Name(), nil
}
