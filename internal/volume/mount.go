package volume

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// validateOpts checks the local driver's -o keys. type and device go
// together: with them the volume is a mount (tmpfs, bind, a block device)
// made at first use instead of a plain directory.
func validateOpts(opts map[string]string) error {
	for k := range opts {
		switch k {
		case "type", "device", "o", "size":
		default:
			return fmt.Errorf("invalid option: %q", k)
		}
	}
	if len(opts) == 0 {
		return nil
	}
	for _, k := range []string{"device", "type"} {
		if opts[k] == "" {
			return fmt.Errorf("missing required option: %q", k)
		}
	}
	if _, err := parseMountOptions(opts); err != nil {
		return err
	}
	return nil
}

type mountSpec struct {
	device, fstype string
	flags          uintptr
	data           string
}

var mountFlags = map[string]struct {
	clear bool
	flag  uintptr
}{
	"ro": {false, unix.MS_RDONLY}, "rw": {true, unix.MS_RDONLY},
	"nosuid": {false, unix.MS_NOSUID}, "suid": {true, unix.MS_NOSUID},
	"nodev": {false, unix.MS_NODEV}, "dev": {true, unix.MS_NODEV},
	"noexec": {false, unix.MS_NOEXEC}, "exec": {true, unix.MS_NOEXEC},
	"sync": {false, unix.MS_SYNCHRONOUS}, "async": {true, unix.MS_SYNCHRONOUS},
	"noatime": {false, unix.MS_NOATIME}, "atime": {true, unix.MS_NOATIME},
	"relatime": {false, unix.MS_RELATIME}, "strictatime": {false, unix.MS_STRICTATIME},
	"bind": {false, unix.MS_BIND}, "rbind": {false, unix.MS_BIND | unix.MS_REC},
}

// parseMountOptions splits o= into mount flags and filesystem data, as
// mount(8) does; size= at the top level is tmpfs's size.
func parseMountOptions(opts map[string]string) (mountSpec, error) {
	m := mountSpec{device: opts["device"], fstype: opts["type"]}
	var data []string
	for _, o := range strings.Split(opts["o"], ",") {
		if o == "" {
			continue
		}
		if f, ok := mountFlags[o]; ok {
			if f.clear {
				m.flags &^= f.flag
			} else {
				m.flags |= f.flag
			}
			continue
		}
		data = append(data, o)
	}
	if sz := opts["size"]; sz != "" {
		data = append(data, "size="+sz)
	}
	m.data = strings.Join(data, ",")
	if m.flags&unix.MS_BIND != 0 && !strings.HasPrefix(m.device, "/") {
		return m, fmt.Errorf("invalid option: bind device %q must be an absolute path", m.device)
	}
	return m, nil
}

// Mount returns the host path to bind into container ref. A volume with
// driver options is mounted at its first user and stays until the last one
// calls Unmount (or Release).
func (s *Store) Mount(ctx context.Context, name, ref string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.vols[name]
	if !ok {
		return "", noSuchVolume(name)
	}
	if len(e.v.Options) == 0 {
		return e.v.Mountpoint, nil
	}
	if !e.mounted {
		spec, err := parseMountOptions(e.v.Options)
		if err != nil {
			return "", err
		}
		if err := os.MkdirAll(e.v.Mountpoint, 0o755); err != nil {
			return "", err
		}
		if err := unix.Mount(spec.device, e.v.Mountpoint, spec.fstype, spec.flags, spec.data); err != nil {
			return "", fmt.Errorf("error while mounting volume '%s': failed to mount local volume: mount %s:%s, data: %s: %w",
				e.v.Mountpoint, spec.device, e.v.Mountpoint, spec.data, err)
		}
		e.mounted = true
	}
	e.active[ref] = true
	return e.v.Mountpoint, nil
}

// Unmount ends ref's use of the mount; the last user unmounts it.
func (s *Store) Unmount(ctx context.Context, name, ref string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.vols[name]
	if !ok {
		return nil
	}
	return s.unmountLocked(e, ref)
}

func (s *Store) unmountLocked(e *entry, ref string) error {
	delete(e.active, ref)
	if len(e.active) > 0 || !e.mounted {
		return nil
	}
	if err := unmount(e.v.Mountpoint); err != nil {
		return fmt.Errorf("unmount volume %s: %w", e.v.Name, err)
	}
	e.mounted = false
	return nil
}

// unmount detaches path; a path that is not mounted is fine.
func unmount(path string) error {
	err := unix.Unmount(path, unix.MNT_DETACH)
	if err == nil || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}

// mountedPaths lists the mount points of this mount namespace, so a store
// reopened after a crash knows which volumes are still mounted.
func mountedPaths() map[string]bool {
	out := map[string]bool{}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 {
			out[unescapeMountPath(fields[4])] = true
		}
	}
	return out
}

// unescapeMountPath undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountPath(p string) string {
	if !strings.Contains(p, `\`) {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '\\' && i+3 < len(p) {
			var n int
			if _, err := fmt.Sscanf(p[i+1:i+4], "%03o", &n); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

func inodeOf(fi fs.FileInfo) (uint64, uint64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino, uint64(st.Nlink)
	}
	return 0, 1
}
