// Command berth-pause is the init of a pod's shared PID namespace. The CRI
// front end pins a pod's other namespaces without any process; a PID
// namespace cannot be pinned that way (it ends with its first process), so
// a pod that shares one (shareProcessNamespace) gets this process as its
// PID 1. It waits for SIGTERM/SIGINT and reaps the orphans a PID 1 inherits.
package main

import (
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
)

func main() {
	runtime.GOMAXPROCS(1)
	debug.SetGCPercent(25)
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
	}
}
