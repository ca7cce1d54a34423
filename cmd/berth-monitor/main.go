// Command berth-monitor watches over one container: it is the parent of the
// container's init (child subreaper), owns its stdio or pty, copies output to
// the log and to attached clients, records the exit status and removes the
// runtime's state. berthd starts one per container and can restart without
// disturbing it.
//
// Usage: berth-monitor <Dir>/monitor.json, with the sync pipe as fd 3; or
// berth-monitor serve SOCKET MAX, a supervisor for up to MAX containers
// (see supervisor.go), which reports on fd 3 once it listens.
//
// It is deliberately small (no encoding/json, no moby types): one runs per
// container, so its memory is a per-container cost.
package main

import (
	"os"
	"runtime"
	"runtime/debug"

	"github.com/berth-project/berth/internal/monitor/proto"
	"golang.org/x/sys/unix"
)

func main() {
	// One P and a tight heap: the monitor mostly sleeps in the poller, and
	// its resident memory is multiplied by the number of containers.
	runtime.GOMAXPROCS(1)
	debug.SetGCPercent(25)

	// The sync pipe must not leak into the runtime commands we start.
	unix.CloseOnExec(3)
	sync := os.NewFile(3, "sync")
	if len(os.Args) == 4 && os.Args[1] == "serve" {
		max, ok := parseMax(os.Args[3])
		if !ok {
			fail(sync, "usage: berth-monitor serve SOCKET MAX")
		}
		// Room for a burst of output per container on top of one
		// monitor's limit; the limit only makes the GC work harder.
		debug.SetMemoryLimit(int64(8+max) << 20)
		serveMain(sync, os.Args[2], max)
		return
	}
	debug.SetMemoryLimit(8 << 20)
	if len(os.Args) != 2 {
		fail(sync, "usage: berth-monitor CONFIG")
	}
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail(sync, "monitor: "+err.Error())
	}
	cfg, err := proto.UnmarshalConfig(data)
	if err != nil {
		fail(sync, err.Error())
	}
	if cfg.RuntimeFD > 0 {
		// Executed through /proc/self/fd, never inherited past an exec.
		unix.CloseOnExec(cfg.RuntimeFD)
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fail(sync, "monitor: set child subreaper: "+err.Error())
	}
	m := newMonitor(cfg, newProcs(), false)
	if err := m.create(); err != nil {
		fail(sync, err.Error())
	}
	if err := m.listen(); err != nil {
		m.abort()
		fail(sync, "monitor: "+err.Error())
	}
	var pid [4]byte
	proto.PutU32(pid[:], uint32(m.pid))
	if sync != nil {
		proto.WriteFrame(sync, proto.Ok, pid[:])
		sync.Close()
	}
	m.run()
	os.Exit(0)
}

// fail reports msg to the daemon on the sync pipe and exits.
func fail(sync *os.File, msg string) {
	if sync != nil {
		proto.WriteFrame(sync, proto.Error, []byte(msg))
		sync.Close()
	} else {
		os.Stderr.WriteString(msg + "\n")
	}
	os.Exit(1)
}
