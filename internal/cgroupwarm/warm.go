// Package cgroupwarm takes a kernel wait off the container start path on
// cgroup v1 hosts.
//
// Moving a process into a cgroup (the runtime does it for every container
// init and every exec) takes the kernel's global cgroup_threadgroup_rwsem
// for writing. When no migration happened in the last few tens of
// milliseconds that lock first waits for an RCU grace period: 6–16 ms
// here, on the critical path of `docker run` and `docker exec`. Once one
// migration has paid it, others are cheap (~30 µs) until the lock has been
// idle for another grace period.
//
// A Warmer pays that wait early and off the critical path: when a request
// that will soon migrate a process arrives, it "migrates" berthd into the
// cgroup it is already in (a no-op move that takes the same lock) on a
// goroutine, while the daemon does the rest of its work. By the time the
// runtime moves the container's process, the lock is warm.
//
// On a cgroup v2 host the runtime clones straight into the cgroup
// (CLONE_INTO_CGROUP) without that lock, so New returns nil there and
// Warm on a nil Warmer does nothing.
package cgroupwarm

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Warmer warms the cgroup migration lock. The zero value is not usable;
// a nil *Warmer is, and does nothing.
type Warmer struct {
	root string // where the hierarchies are mounted, /sys/fs/cgroup
	pid  []byte
	busy atomic.Bool
}

// New returns a Warmer for this process, or nil when warming would not
// help (cgroup v2 only) or is not possible (no v1 hierarchy found).
func New(root string) *Warmer {
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil || st.Type == unix.CGROUP2_SUPER_MAGIC {
		return nil
	}
	if ownV1Procs(root, "/proc/self/cgroup") == "" {
		return nil
	}
	return &Warmer{root: root, pid: []byte(strconv.Itoa(os.Getpid()))}
}

// ownV1Procs finds the cgroup.procs file of this process's cgroup in a v1
// hierarchy (pids preferred: it exists wherever containers are limited).
func ownV1Procs(root, selfCgroup string) string {
	f, err := os.Open(selfCgroup)
	if err != nil {
		return ""
	}
	defer f.Close()
	var found string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// hierarchy-id:controller-list:path; v2's line has an empty list.
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 || parts[1] == "" {
			continue
		}
		for _, ctl := range strings.Split(parts[1], ",") {
			ctl = strings.TrimPrefix(ctl, "name=")
			p := filepath.Join(root, ctl, parts[2], "cgroup.procs")
			if _, err := os.Stat(p); err != nil {
				continue
			}
			if ctl == "pids" {
				return p
			}
			if found == "" {
				found = p
			}
		}
	}
	return found
}

// Warm starts a no-op migration in the background unless one is already
// running. It never blocks and ignores failures: warming is only ever an
// optimisation.
func (w *Warmer) Warm() {
	if w == nil || !w.busy.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer w.busy.Store(false)
		// Looked up each time: whoever manages berthd's cgroup may have
		// moved it, and it must not be moved back.
		path := ownV1Procs(w.root, "/proc/self/cgroup")
		if path == "" {
			return
		}
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		f.Write(w.pid)
		f.Close()
	}()
}
