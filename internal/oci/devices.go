package oci

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/moby/moby/api/types/blkiodev"
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// deviceCgroupRule is the syntax of --device-cgroup-rule, as dockerd
// accepts it: "TYPE MAJOR:MINOR ACCESS" with * for any number.
var deviceCgroupRule = regexp.MustCompile(`^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$`)

// ValidateDevices checks what can be checked of --device and
// --device-cgroup-rule without the host's devices, so a bad request is
// refused at create and leaves nothing behind. Whether the host path is a
// device is only known when the container starts (as in dockerd: a device
// may be plugged in between).
func ValidateDevices(hc *container.HostConfig) error {
	for _, d := range hc.Devices {
		if d.CgroupPermissions != "" && !validDeviceMode(d.CgroupPermissions) {
			// The docker CLI's words for the same mistake.
			return errdefs.Invalidf("bad mode specified: %s", d.CgroupPermissions)
		}
	}
	for _, r := range hc.DeviceCgroupRules {
		if _, err := parseDeviceCgroupRule(r); err != nil {
			return errdefs.Invalid(err)
		}
	}
	return nil
}

func validDeviceMode(mode string) bool {
	if len(mode) > 3 {
		return false
	}
	seen := map[rune]bool{}
	for _, c := range mode {
		if !strings.ContainsRune("rwm", c) || seen[c] {
			return false
		}
		seen[c] = true
	}
	return true
}

func parseDeviceCgroupRule(rule string) (specs.LinuxDeviceCgroup, error) {
	m := deviceCgroupRule.FindStringSubmatch(rule)
	if m == nil {
		return specs.LinuxDeviceCgroup{}, fmt.Errorf("invalid device cgroup rule format: '%s'", rule)
	}
	r := specs.LinuxDeviceCgroup{Allow: true, Type: m[1], Access: m[4]}
	for i, dst := range []**int64{&r.Major, &r.Minor} {
		if m[2+i] == "*" {
			continue
		}
		n, err := strconv.ParseInt(m[2+i], 10, 64)
		if err != nil {
			return specs.LinuxDeviceCgroup{}, fmt.Errorf("invalid device cgroup rule format: '%s'", rule)
		}
		*dst = &n
	}
	return r, nil
}

// WithDevices puts the --device nodes into the container (linux.devices:
// the runtime makes the nodes) and allows them in the device cgroup with
// their permissions, then adds the --device-cgroup-rule rules. A
// privileged container gets every device node of the host, as in Docker.
// It runs after WithResources, which sets the default allow-list.
func WithDevices(_ context.Context, s *specs.Spec, in *Input) error {
	hc := in.HostConfig
	if hc.Privileged {
		devs, err := hostDevices("/dev")
		if err != nil {
			return fmt.Errorf("list host devices: %w", err)
		}
		s.Linux.Devices = append(s.Linux.Devices, devs...)
		return nil
	}
	for _, d := range hc.Devices {
		devs, rules, err := devicesFromPath(d.PathOnHost, d.PathInContainer, d.CgroupPermissions)
		if err != nil {
			return fmt.Errorf("error gathering device information while adding custom device %q: %w", d.PathOnHost, err)
		}
		s.Linux.Devices = append(s.Linux.Devices, devs...)
		s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, rules...)
	}
	for _, r := range hc.DeviceCgroupRules {
		rule, err := parseDeviceCgroupRule(r)
		if err != nil {
			return errdefs.Invalid(err)
		}
		s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, rule)
	}
	return nil
}

// errNotDevice is what a --device path that is neither a device node nor
// a directory answers.
var errNotDevice = errors.New("not a device node")

// devicesFromPath resolves one --device mapping: a device node, or a
// directory whose device nodes are all mapped below the container path.
func devicesFromPath(onHost, inContainer, perms string) ([]specs.LinuxDevice, []specs.LinuxDeviceCgroup, error) {
	if perms == "" {
		perms = "rwm"
	}
	if inContainer == "" {
		inContainer = onHost
	}
	// Docker follows a symlink such as /dev/disk/by-id/X to its node.
	resolved := onHost
	if r, err := filepath.EvalSymlinks(onHost); err == nil {
		resolved = r
	}
	dev, err := deviceAt(resolved, inContainer)
	if err == nil {
		return []specs.LinuxDevice{dev}, []specs.LinuxDeviceCgroup{cgroupRule(dev, perms)}, nil
	}
	if !errors.Is(err, errNotDevice) {
		return nil, nil, unwrapPathError(err)
	}
	fi, serr := os.Stat(resolved)
	if serr != nil || !fi.IsDir() {
		return nil, nil, errNotDevice
	}
	var devs []specs.LinuxDevice
	var rules []specs.LinuxDeviceCgroup
	werr := filepath.WalkDir(resolved, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return nil // unreadable entries are skipped, as in Docker
		}
		rel, rerr := filepath.Rel(resolved, p)
		if rerr != nil {
			return nil
		}
		d, derr := deviceAt(p, filepath.Join(inContainer, rel))
		if derr != nil {
			return nil // files that are not device nodes are skipped
		}
		devs = append(devs, d)
		rules = append(rules, cgroupRule(d, perms))
		return nil
	})
	return devs, rules, werr
}

// unwrapPathError gives "no such file or directory" rather than "lstat
// /dev/x: no such file or directory", as dockerd's message has it.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// deviceAt reads the device node at hostPath for the container path ctr.
func deviceAt(hostPath, ctr string) (specs.LinuxDevice, error) {
	var st unix.Stat_t
	if err := unix.Lstat(hostPath, &st); err != nil {
		return specs.LinuxDevice{}, &fs.PathError{Op: "lstat", Path: hostPath, Err: err}
	}
	var typ string
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		typ = "c"
	case unix.S_IFBLK:
		typ = "b"
	default:
		return specs.LinuxDevice{}, errNotDevice
	}
	mode := os.FileMode(st.Mode & 0o777)
	uid, gid := st.Uid, st.Gid
	return specs.LinuxDevice{
		Path:     ctr,
		Type:     typ,
		Major:    int64(unix.Major(uint64(st.Rdev))),
		Minor:    int64(unix.Minor(uint64(st.Rdev))),
		FileMode: &mode,
		UID:      &uid,
		GID:      &gid,
	}, nil
}

func cgroupRule(d specs.LinuxDevice, perms string) specs.LinuxDeviceCgroup {
	major, minor := d.Major, d.Minor
	return specs.LinuxDeviceCgroup{Allow: true, Type: d.Type, Major: &major, Minor: &minor, Access: perms}
}

// hostDevices lists the device nodes under dir for a privileged container,
// leaving out what the container gets its own of (pts, shm, mqueue, fd)
// and the console, as Docker (through runc's list) does.
func hostDevices(dir string) ([]specs.LinuxDevice, error) {
	skipDirs := map[string]bool{"pts": true, "shm": true, "fd": true, "mqueue": true,
		".lxc": true, ".lxd-mounts": true, ".udev": true}
	var out []specs.LinuxDevice
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if e.IsDir() {
			if p != dir && skipDirs[e.Name()] {
				return filepath.SkipDir
			}
			return nil
		}
		if e.Name() == "console" {
			return nil
		}
		d, derr := deviceAt(p, p)
		if derr != nil {
			return nil
		}
		out = append(out, d)
		return nil
	})
	return out, err
}

// BlkioFileExists reports whether the host's block I/O controller offers
// file (a cgroup v1 name such as blkio.weight_device): on a cgroup v2 host
// the io controller carries both weights and throttles.
func BlkioFileExists(file string) bool {
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup/blkio", file)); err == nil {
		return true
	}
	b, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
	return err == nil && strings.Contains(" "+strings.TrimSpace(string(b))+" ", " io ")
}

// withBlkioDevices fills the per-device weights and throttles, each device
// named by its host path (dockerd's "stat PATH: ..." when it is missing).
func withBlkioDevices(res *specs.LinuxResources, r *container.Resources) error {
	if len(r.BlkioWeightDevice)+len(r.BlkioDeviceReadBps)+len(r.BlkioDeviceWriteBps)+
		len(r.BlkioDeviceReadIOps)+len(r.BlkioDeviceWriteIOps) == 0 {
		return nil
	}
	if res.BlockIO == nil {
		res.BlockIO = &specs.LinuxBlockIO{}
	}
	numbers := func(p string) (int64, int64, error) {
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			return 0, 0, &fs.PathError{Op: "stat", Path: p, Err: err}
		}
		return int64(unix.Major(uint64(st.Rdev))), int64(unix.Minor(uint64(st.Rdev))), nil
	}
	for _, w := range r.BlkioWeightDevice {
		if w == nil {
			continue
		}
		major, minor, err := numbers(w.Path)
		if err != nil {
			return err
		}
		weight := w.Weight
		res.BlockIO.WeightDevice = append(res.BlockIO.WeightDevice, specs.LinuxWeightDevice{
			LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: major, Minor: minor}, Weight: &weight})
	}
	throttles := []struct {
		in  []*blkiodev.ThrottleDevice
		out *[]specs.LinuxThrottleDevice
	}{
		{r.BlkioDeviceReadBps, &res.BlockIO.ThrottleReadBpsDevice},
		{r.BlkioDeviceWriteBps, &res.BlockIO.ThrottleWriteBpsDevice},
		{r.BlkioDeviceReadIOps, &res.BlockIO.ThrottleReadIOPSDevice},
		{r.BlkioDeviceWriteIOps, &res.BlockIO.ThrottleWriteIOPSDevice},
	}
	for _, t := range throttles {
		for _, d := range t.in {
			if d == nil {
				continue
			}
			major, minor, err := numbers(d.Path)
			if err != nil {
				return err
			}
			*t.out = append(*t.out, specs.LinuxThrottleDevice{
				LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: major, Minor: minor}, Rate: d.Rate})
		}
	}
	return nil
}
