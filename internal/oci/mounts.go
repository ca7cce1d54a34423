package oci

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultShmSize is Docker's /dev/shm size when ShmSize is 0.
const DefaultShmSize = 64 << 20

// defaultMounts are the filesystems every Docker container gets.
func defaultMounts(privileged bool, shmSize int64) []specs.Mount {
	ro := []string{"ro"}
	if privileged {
		// Privileged containers may write sysfs and cgroupfs, as in Docker.
		ro = nil
	}
	if shmSize <= 0 {
		shmSize = DefaultShmSize
	}
	return []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: append([]string{"nosuid", "noexec", "nodev"}, ro...)},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: append([]string{"nosuid", "noexec", "nodev", "relatime"}, ro...)},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", fmt.Sprintf("size=%d", shmSize)}},
	}
}

// WithDefaultMounts adds /proc, /dev, /sys, /dev/shm and friends, minus the
// ones the user replaced with a mount of their own (a user mount on /dev
// replaces /dev/pts and /dev/shm too, as in Docker).
func WithDefaultMounts(_ context.Context, s *specs.Spec, in *Input) error {
	hc := in.HostConfig
	user := userDestinations(in)
	for _, m := range defaultMounts(hc.Privileged, hc.ShmSize) {
		if covered(m.Destination, user) {
			continue
		}
		if m.Destination == "/dev/shm" && in.IpcNS == "host" {
			// --ipc host shares the host's POSIX shared memory too.
			m = specs.Mount{Destination: "/dev/shm", Type: "bind", Source: "/dev/shm", Options: []string{"rbind", "rprivate"}}
		}
		s.Mounts = append(s.Mounts, m)
	}
	return nil
}

func userDestinations(in *Input) []string {
	var d []string
	for _, m := range in.Mounts {
		d = append(d, path.Clean(m.Destination))
	}
	for dst := range in.HostConfig.Tmpfs {
		d = append(d, path.Clean(dst))
	}
	return d
}

// covered reports whether dst is one of dests or lies below one of them.
func covered(dst string, dests []string) bool {
	for _, d := range dests {
		if dst == d || strings.HasPrefix(dst, strings.TrimSuffix(d, "/")+"/") {
			return true
		}
	}
	return false
}

// WithUserMounts adds the /etc files, binds, volumes and tmpfs mounts, parents
// before children so that a mount on /a/b is not hidden by a later one on /a.
func WithUserMounts(_ context.Context, s *specs.Spec, in *Input) error {
	var ms []specs.Mount
	for _, mp := range in.Mounts {
		m, err := mountFor(mp, in.HostConfig)
		if err != nil {
			return err
		}
		ms = append(ms, m)
		// As dockerd: a shared or slave bind needs the container's root
		// mount to propagate too, or the runtime's recursive private
		// root (crun's default) cuts the bind off from the host.
		switch mp.Propagation {
		case mount.PropagationShared, mount.PropagationRShared:
			s.Linux.RootfsPropagation = "rshared"
		case mount.PropagationSlave, mount.PropagationRSlave:
			if s.Linux.RootfsPropagation != "rshared" {
				s.Linux.RootfsPropagation = "rslave"
			}
		}
	}
	for dst, data := range in.HostConfig.Tmpfs {
		ms = append(ms, tmpfsMount(dst, data))
	}
	sort.SliceStable(ms, func(i, j int) bool {
		return depth(ms[i].Destination) < depth(ms[j].Destination)
	})
	s.Mounts = append(s.Mounts, etcMounts(in)...)
	s.Mounts = append(s.Mounts, ms...)
	return nil
}

func depth(p string) int {
	return strings.Count(path.Clean(p), "/")
}

// etcMounts bind-mounts the per-container hostname, hosts and resolv.conf.
// Docker keeps them writable unless the root filesystem is read-only, and
// skips any the user mounted something over.
func etcMounts(in *Input) []specs.Mount {
	user := userDestinations(in)
	mode := "rw"
	if in.HostConfig.ReadonlyRootfs {
		mode = "ro"
	}
	var out []specs.Mount
	for _, f := range []struct{ src, dst string }{
		{in.ResolvConfPath, "/etc/resolv.conf"},
		{in.HostnamePath, "/etc/hostname"},
		{in.HostsPath, "/etc/hosts"},
	} {
		if f.src == "" || covered(f.dst, user) {
			continue
		}
		out = append(out, specs.Mount{Destination: f.dst, Type: "bind", Source: f.src, Options: []string{"rbind", "rprivate", mode}})
	}
	return out
}

// mountFor turns a parsed mount point into a runtime mount.
func mountFor(mp container.MountPoint, hc *container.HostConfig) (specs.Mount, error) {
	switch mp.Type {
	case mount.TypeTmpfs:
		return tmpfsMount(mp.Destination, tmpfsData(mp.Destination, hc)), nil
	case mount.TypeBind, mount.TypeVolume:
		if mp.Source == "" {
			return specs.Mount{}, fmt.Errorf("volume %q for %s has no source on the host", mp.Name, mp.Destination)
		}
		opts := []string{"rbind"}
		if !mp.RW {
			opts = append(opts, "ro")
		}
		prop := string(mp.Propagation)
		if prop == "" {
			prop = string(mount.PropagationRPrivate)
		}
		opts = append(opts, prop)
		return specs.Mount{Destination: mp.Destination, Type: "bind", Source: mp.Source, Options: opts}, nil
	default:
		return specs.Mount{}, fmt.Errorf("mount type %q is not supported", mp.Type)
	}
}

// tmpfsMount builds a tmpfs mount with Docker's defaults (noexec, nosuid,
// nodev) followed by the user's options; the kernel lets later options win.
func tmpfsMount(dst, data string) specs.Mount {
	opts := []string{"noexec", "nosuid", "nodev"}
	if data != "" {
		opts = append(opts, strings.Split(data, ",")...)
	}
	return specs.Mount{Destination: dst, Type: "tmpfs", Source: "tmpfs", Options: mergeTmpfs(opts)}
}

// mergeTmpfs drops an earlier flag that a later one contradicts (exec after
// noexec) and earlier duplicates of key=value options.
func mergeTmpfs(opts []string) []string {
	opposite := map[string]string{"exec": "noexec", "noexec": "exec", "suid": "nosuid", "nosuid": "suid", "dev": "nodev", "nodev": "dev", "rw": "ro", "ro": "rw"}
	seen := map[string]bool{}
	var out []string
	for i := len(opts) - 1; i >= 0; i-- {
		o := opts[i]
		key, _, _ := strings.Cut(o, "=")
		if o == "" || seen[key] {
			continue
		}
		seen[key] = true
		if op, ok := opposite[key]; ok {
			seen[op] = true
		}
		out = append([]string{o}, out...)
	}
	return out
}

// tmpfsData finds the --mount type=tmpfs options for dst in the HostConfig.
func tmpfsData(dst string, hc *container.HostConfig) string {
	for _, m := range hc.Mounts {
		if m.Type != mount.TypeTmpfs || path.Clean(m.Target) != path.Clean(dst) {
			continue
		}
		var o []string
		if m.ReadOnly {
			o = append(o, "ro")
		}
		if t := m.TmpfsOptions; t != nil {
			if t.SizeBytes > 0 {
				o = append(o, fmt.Sprintf("size=%d", t.SizeBytes))
			}
			if t.Mode != 0 {
				o = append(o, fmt.Sprintf("mode=%o", uint32(t.Mode)&0o7777))
			}
			for _, kv := range t.Options {
				o = append(o, strings.Join(kv, "="))
			}
		}
		return strings.Join(o, ",")
	}
	return ""
}
