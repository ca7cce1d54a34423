package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// crunSeals are the seals crun checks for to believe it already runs from
// a safe copy of itself (cloned_binary.c, CRUN_MEMFD_SEALS).
const crunSeals = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE

// UseSealedCopy makes the runtime run from a sealed in-memory copy of its
// binary. crun re-executes itself from such a copy on every invocation
// unless it already runs from one (the CVE-2019-5736 defence: a container
// must not be able to overwrite the runtime on the host): it bind-mounts
// /proc/self/exe read-only in the host's mount namespace, unmounts it and
// execs again, ~2 ms of every create and exec here. Making the copy once
// per daemon gives the same protection: the copy cannot be written, and the
// host binary is never what runs. Only crun checks for it; for anything
// else this is a no-op. On failure the runtime keeps running from Path.
//
// For a crun run through berth-crun (Inner set), the copy is of Inner,
// for the monitors (ForMonitor); berthd's own calls keep going through
// berth-crun.
func (r *Runtime) UseSealedCopy(ctx context.Context) error {
	if r.Inner != "" && filepath.Base(r.Inner) == "crun" {
		f, err := sealedCopy(ctx, r.Name, r.Inner)
		if err != nil {
			return err
		}
		r.innerExe = f
		return nil
	}
	if filepath.Base(r.Path) != "crun" {
		return nil
	}
	f, err := sealedCopy(ctx, r.Name, r.Path)
	if err != nil {
		return err
	}
	r.exe = f
	return nil
}

func sealedCopy(ctx context.Context, name, path string) (*os.File, error) {
	src, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|unix.MFD_EXEC)
	if errors.Is(err, unix.EINVAL) { // kernels before 6.3 know no MFD_EXEC
		fd, err = unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	}
	if err != nil {
		return nil, fmt.Errorf("sealed copy of %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), "memfd:"+name)
	if _, err := io.Copy(f, src); err != nil {
		f.Close()
		return nil, fmt.Errorf("sealed copy of %s: %w", path, err)
	}
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, crunSeals); err != nil {
		f.Close()
		return nil, fmt.Errorf("sealed copy of %s: %w", path, err)
	}
	// The host may forbid executing memfds (vm.memfd_noexec): try it once.
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, procFD(f), "--version")
	cmd.Args[0] = name
	if err := cmd.Run(); err != nil {
		f.Close()
		return nil, fmt.Errorf("sealed copy of %s does not run: %w", path, err)
	}
	return f, nil
}

// ForMonitor is how a monitor runs this runtime: inner, when not "", is
// the crun to run in a mount namespace without the host's cgroup2 mount
// instead of Path (berth-crun, which does the same in a process of its
// own); exe is the sealed copy to execute, or nil.
func (r *Runtime) ForMonitor() (inner string, exe *os.File) {
	if r.Inner != "" {
		return r.Inner, r.innerExe
	}
	return "", r.exe
}

// SealedCopy is the sealed copy in use, or nil. A process that runs the
// runtime hands it to its children as an open descriptor.
func (r *Runtime) SealedCopy() *os.File { return r.exe }

// bin is what to execute: the sealed copy when there is one. The child
// resolves /proc/self/fd/N in execve before its close-on-exec descriptors
// are closed, so the descriptor need not be inherited.
func (r *Runtime) bin() string {
	if r.exe != nil {
		return procFD(r.exe)
	}
	return r.Path
}

func procFD(f *os.File) string { return fmt.Sprintf("/proc/self/fd/%d", f.Fd()) }

// command is exec.Command for the runtime, named as usual in argv[0].
func (r *Runtime) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, r.bin(), args...)
	cmd.Args[0] = filepath.Base(r.Path)
	return cmd
}
