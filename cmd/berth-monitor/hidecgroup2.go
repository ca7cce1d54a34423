package main

import (
	"errors"
	"os/exec"
	"runtime"

	"golang.org/x/sys/unix"
)

// startWithoutCgroup2 starts cmd (crun) in a mount namespace of its own in
// which the host's cgroup2 mount at /sys/fs/cgroup/unified is gone: crun
// refuses a hybrid cgroup host while a controller sits on that mount, and
// out of its view crun sees a plain cgroup v1 host. It is what
// cmd/berth-crun does for berthd's own runtime calls, done here on a
// thread instead of in a process of its own: a fork and exec fewer on
// every create, kill and delete, and crun runs from the sealed copy berthd
// hands over (it would copy itself on every run otherwise).
//
// The namespace is the thread's: the goroutine locks its thread, unshares,
// forks cmd from it (os/exec forks on the calling thread), and ends
// without unlocking, which makes the Go runtime destroy the thread, so
// no other goroutine ever runs in that namespace. The new namespace is a
// copy of the current one made a slave of it, so the unmount stays inside
// and the host's mounts (the container's rootfs) are all there.
func startWithoutCgroup2(cmd *exec.Cmd) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// CLONE_FS too: the thread's own root and cwd, which a mount
		// namespace of its own needs.
		if err := unix.Unshare(unix.CLONE_NEWNS | unix.CLONE_FS); err != nil {
			errc <- errors.New("monitor: unshare mount namespace: " + err.Error())
			return
		}
		if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
			errc <- errors.New("monitor: make / a slave mount: " + err.Error())
			return
		}
		if err := unix.Unmount("/sys/fs/cgroup/unified", unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
			errc <- errors.New("monitor: hide the cgroup2 mount: " + err.Error())
			return
		}
		errc <- cmd.Start()
	}()
	return <-errc
}
