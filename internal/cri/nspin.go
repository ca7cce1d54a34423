package cri

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Pod namespaces are pinned, not held by a process: a goroutine locks an
// OS thread, unshares the namespaces there, bind-mounts each
// /proc/thread-self/ns/<kind> onto a file, and ends without unlocking,
// which makes the Go runtime destroy the thread. The bind mounts keep the
// namespaces alive until the pod is removed, with no pause process and no
// monitor per pod (CRI-O's pinns does the same in a helper binary).

var nsFlags = map[string]int{"net": unix.CLONE_NEWNET, "ipc": unix.CLONE_NEWIPC, "uts": unix.CLONE_NEWUTS}

// pinNamespaces makes new namespaces of kinds ("net", "ipc", "uts") and
// pins them at dir/<kind>. hostname is set in a new UTS namespace; the
// loopback of a new network namespace is brought up. On error nothing is
// left pinned.
func pinNamespaces(dir string, kinds []string, hostname string) (map[string]string, error) {
	if len(kinds) == 0 {
		return map[string]string{}, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	type result struct {
		paths map[string]string
		err   error
	}
	ch := make(chan result, 1)
	go func() {
		// Never unlocked: the thread's namespaces differ from the process's,
		// so it must not run other goroutines; it exits with this one.
		runtime.LockOSThread()
		paths, err := pinOnThread(dir, kinds, hostname)
		ch <- result{paths, err}
	}()
	r := <-ch
	if r.err != nil {
		unpinNamespaces(dir)
		return nil, r.err
	}
	return r.paths, nil
}

func pinOnThread(dir string, kinds []string, hostname string) (map[string]string, error) {
	flags := 0
	for _, k := range kinds {
		flags |= nsFlags[k]
	}
	if err := unix.Unshare(flags); err != nil {
		return nil, fmt.Errorf("unshare pod namespaces: %w", err)
	}
	paths := map[string]string{}
	for _, k := range kinds {
		switch k {
		case "uts":
			if err := unix.Sethostname([]byte(hostname)); err != nil {
				return nil, fmt.Errorf("set pod hostname: %w", err)
			}
		case "net":
			lo, err := netlink.LinkByName("lo")
			if err == nil {
				err = netlink.LinkSetUp(lo)
			}
			if err != nil {
				return nil, fmt.Errorf("pod loopback: %w", err)
			}
		}
		p := filepath.Join(dir, k)
		f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o400)
		if err != nil {
			return nil, err
		}
		f.Close()
		src := fmt.Sprintf("/proc/%d/task/%d/ns/%s", os.Getpid(), unix.Gettid(), k)
		if err := unix.Mount(src, p, "", unix.MS_BIND, ""); err != nil {
			return nil, fmt.Errorf("pin %s namespace: %w", k, err)
		}
		paths[k] = p
	}
	return paths, nil
}

// unpinNamespaces releases every namespace pinned under dir and removes it.
func unpinNamespaces(dir string) error {
	var errs []error
	for k := range nsFlags {
		p := filepath.Join(dir, k)
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unpin %s: %w", p, err))
		}
		os.Remove(p)
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
