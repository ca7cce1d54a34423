// Package crashpoint lets the crash-consistency tests kill the daemon
// outright (SIGKILL) at a named point of an operation, so that each crash
// window is hit for sure rather than by timing. The point is named by the
// BERTH_CRASH_POINT environment variable; unset, nothing happens.
package crashpoint

import (
	"log/slog"
	"os"

	"golang.org/x/sys/unix"
)

// Env is the variable that names the point to die at.
const Env = "BERTH_CRASH_POINT"

// Reach kills the process if name is the armed point. log may be nil.
func Reach(log *slog.Logger, name string) {
	if armed := os.Getenv(Env); armed != "" && armed == name {
		Kill(log, name)
	}
}

// Kill logs the point and SIGKILLs the process; it does not return.
func Kill(log *slog.Logger, name string) {
	if log != nil {
		log.Warn("crash point reached: SIGKILL", "point", name)
	}
	unix.Kill(os.Getpid(), unix.SIGKILL)
	select {} // the signal is on its way
}
