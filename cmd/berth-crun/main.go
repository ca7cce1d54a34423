// Command berth-crun runs crun in a private mount namespace without the
// host's cgroup2 mount at /sys/fs/cgroup/unified.
//
// crun refuses a hybrid cgroup host while any controller sits on the
// cgroup2 mount ("cgroups in hybrid mode not supported"), which is how a
// fresh Debian machine of ours comes up (hugetlb stays on cgroup2). With
// that mount out of its view crun sees a plain cgroup v1 host and manages
// the v1 controllers exactly as runc does on the same host; nothing of the
// host changes, the namespace dies with the process. berthd uses it as the
// "crun" runtime on such hosts; every argument goes to crun unchanged.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// The namespace is per thread until execve: stay on the main thread.
func init() { runtime.LockOSThread() }

func main() {
	crun := os.Getenv("BERTH_CRUN")
	if crun == "" {
		p, err := exec.LookPath("crun")
		if err != nil {
			fail(err)
		}
		crun = p
	}
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		fail(fmt.Errorf("unshare mount namespace: %w", err))
	}
	// Slave, so the unmount below never propagates back to the host.
	if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		fail(fmt.Errorf("make / a slave mount: %w", err))
	}
	if err := unix.Unmount("/sys/fs/cgroup/unified", unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
		fail(fmt.Errorf("hide the cgroup2 mount: %w", err))
	}
	args := append([]string{"crun"}, os.Args[1:]...)
	fail(syscall.Exec(crun, args, os.Environ()))
}

func fail(err error) {
	// crun's own error format, so the daemon reads it like crun's.
	fmt.Fprintf(os.Stderr, "{\"msg\":%q,\"level\":\"error\"}\n", "berth-crun: "+err.Error())
	os.Exit(1)
}
