package oci

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
)

// ParseMounts validates -v (HostConfig.Binds), --mount (HostConfig.Mounts)
// and --tmpfs (HostConfig.Tmpfs) and returns the mount points to record.
//
// Named and anonymous volumes ("-v name:/path", "-v /path", --mount
// type=volume) are returned as MountPoint{Type: "volume", Name, Destination}
// with an empty Source: the daemon creates or looks up the volume and fills
// Source in before Generate. --tmpfs entries are validated but not returned:
// Docker does not list them in the container's Mounts either.
//
// A -v bind whose host path is missing is accepted, because Docker creates
// it at start (see EnsureBindSources); --mount type=bind requires it to exist.
func ParseMounts(hc *container.HostConfig) ([]container.MountPoint, error) {
	if hc == nil {
		return nil, nil
	}
	var out []container.MountPoint
	seen := map[string]bool{}
	add := func(mp container.MountPoint) error {
		d := path.Clean(mp.Destination)
		if seen[d] {
			return errdefs.Invalidf("Duplicate mount point: %s", d)
		}
		seen[d] = true
		mp.Destination = d
		out = append(out, mp)
		return nil
	}
	for _, raw := range hc.Binds {
		mp, err := parseBind(raw)
		if err != nil {
			return nil, err
		}
		if err := add(mp); err != nil {
			return nil, err
		}
	}
	for i := range hc.Mounts {
		mp, err := parseMountSpec(&hc.Mounts[i])
		if err != nil {
			return nil, err
		}
		if err := add(mp); err != nil {
			return nil, err
		}
	}
	for dst := range hc.Tmpfs {
		if !path.IsAbs(dst) {
			return nil, errdefs.Invalidf("invalid mount path: '%s' mount path must be absolute", dst)
		}
		if seen[path.Clean(dst)] {
			return nil, errdefs.Invalidf("Duplicate mount point: %s", path.Clean(dst))
		}
		seen[path.Clean(dst)] = true
	}
	return out, nil
}

// parseBind parses "-v [src:]dst[:mode]".
func parseBind(raw string) (container.MountPoint, error) {
	parts := strings.SplitN(raw, ":", 4)
	if parts[0] == "" {
		return container.MountPoint{}, errdefs.Invalidf("invalid volume specification: '%s'", raw)
	}
	var src, dst, mode string
	switch len(parts) {
	case 1:
		dst = parts[0]
	case 2:
		if validMode(parts[1]) {
			// "/foo:rw" names a destination and a mode but no source.
			return container.MountPoint{}, errdefs.Invalidf("invalid volume specification: '%s'", raw)
		}
		src, dst = parts[0], parts[1]
	case 3:
		src, dst, mode = parts[0], parts[1], parts[2]
	default:
		return container.MountPoint{}, errdefs.Invalidf("invalid volume specification: '%s'", raw)
	}
	if !validMode(mode) {
		return container.MountPoint{}, errdefs.Invalidf("invalid mode: %s", mode)
	}
	if dst == "" {
		return container.MountPoint{}, errdefs.Invalidf("invalid volume specification: '%s'", raw)
	}
	if !path.IsAbs(dst) {
		return container.MountPoint{}, errdefs.Invalidf("invalid volume specification: '%s': invalid mount config for type \"%s\": invalid mount path: '%s' mount path must be absolute", raw, bindOrVolume(src), dst)
	}
	if path.Clean(dst) == "/" {
		return container.MountPoint{}, errdefs.Invalidf("invalid volume specification: '%s': invalid mount config for type \"%s\": invalid specification: destination can't be '/'", raw, bindOrVolume(src))
	}
	mp := container.MountPoint{
		Type:        bindOrVolume(src),
		Destination: dst,
		Mode:        mode,
		RW:          !hasMode(mode, "ro"),
		Propagation: propagationOf(mode),
	}
	if mp.Type == mount.TypeBind {
		mp.Source = path.Clean(src)
	} else {
		if src != "" && !validVolumeName(src) {
			return container.MountPoint{}, errdefs.Invalidf("create %s: %q includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path", src, src)
		}
		mp.Name = src
		mp.Driver = "local"
		mp.Propagation = ""
	}
	return mp, nil
}

// validVolumeName is the local driver's rule: [a-zA-Z0-9][a-zA-Z0-9_.-]+.
// It catches "./data", which users mean as a host path.
func validVolumeName(n string) bool {
	if len(n) < 2 {
		return false
	}
	for i, c := range n {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || (c != '_' && c != '.' && c != '-')) {
			return false
		}
	}
	return true
}

func bindOrVolume(src string) mount.Type {
	if path.IsAbs(src) {
		return mount.TypeBind
	}
	return mount.TypeVolume
}

// validMode accepts Docker's comma-separated -v modes: at most one each of
// rw/ro, a propagation mode, an SELinux label (z/Z), nocopy, consistency.
func validMode(mode string) bool {
	if mode == "" {
		return true
	}
	groups := map[string]string{
		"rw": "rw", "ro": "rw",
		"z": "label", "Z": "label",
		"nocopy":     "copy",
		"consistent": "cons", "cached": "cons", "delegated": "cons",
	}
	for _, p := range mount.Propagations {
		groups[string(p)] = "prop"
	}
	used := map[string]bool{}
	for _, o := range strings.Split(mode, ",") {
		g, ok := groups[o]
		if !ok || used[g] {
			return false
		}
		used[g] = true
	}
	return true
}

func hasMode(mode, want string) bool {
	for _, o := range strings.Split(mode, ",") {
		if o == want {
			return true
		}
	}
	return false
}

func propagationOf(mode string) mount.Propagation {
	for _, p := range mount.Propagations {
		if hasMode(mode, string(p)) {
			return p
		}
	}
	return mount.PropagationRPrivate
}

// parseMountSpec validates one --mount entry.
func parseMountSpec(m *mount.Mount) (container.MountPoint, error) {
	bad := func(err error) error {
		return errdefs.Invalid(fmt.Errorf("invalid mount config for type %q: %w", m.Type, err))
	}
	if m.Target == "" {
		return container.MountPoint{}, bad(errors.New("field Target must not be empty"))
	}
	if !path.IsAbs(m.Target) {
		return container.MountPoint{}, bad(fmt.Errorf("invalid mount path: '%s' mount path must be absolute", m.Target))
	}
	if path.Clean(m.Target) == "/" {
		// Mounting over the root would hide the image; Docker refuses it for every type.
		return container.MountPoint{}, bad(errors.New("invalid specification: destination can't be '/'"))
	}
	switch m.Type {
	case mount.TypeBind:
		return parseBindSpec(m, bad)
	case mount.TypeTmpfs:
		if m.Source != "" {
			return container.MountPoint{}, bad(errors.New("field Source must not be specified"))
		}
		if m.BindOptions != nil {
			return container.MountPoint{}, bad(errors.New("field BindOptions must not be specified"))
		}
		if m.VolumeOptions != nil {
			return container.MountPoint{}, bad(errors.New("field VolumeOptions must not be specified"))
		}
		if t := m.TmpfsOptions; t != nil && t.SizeBytes < 0 {
			return container.MountPoint{}, bad(fmt.Errorf("invalid tmpfs size %d", t.SizeBytes))
		}
		return container.MountPoint{Type: mount.TypeTmpfs, Destination: m.Target, RW: !m.ReadOnly}, nil
	case mount.TypeVolume:
		if m.BindOptions != nil {
			return container.MountPoint{}, bad(errors.New("field BindOptions must not be specified"))
		}
		if m.TmpfsOptions != nil {
			return container.MountPoint{}, bad(errors.New("field TmpfsOptions must not be specified"))
		}
		return container.MountPoint{Type: mount.TypeVolume, Name: m.Source, Driver: "local", Destination: m.Target, RW: !m.ReadOnly, Mode: "z"}, nil
	default:
		return container.MountPoint{}, errdefs.Invalidf("mount type unknown: %q", m.Type)
	}
}

func parseBindSpec(m *mount.Mount, bad func(error) error) (container.MountPoint, error) {
	if m.Source == "" {
		return container.MountPoint{}, bad(errors.New("field Source must not be empty"))
	}
	if m.VolumeOptions != nil {
		return container.MountPoint{}, bad(errors.New("field VolumeOptions must not be specified"))
	}
	if m.TmpfsOptions != nil {
		return container.MountPoint{}, bad(errors.New("field TmpfsOptions must not be specified"))
	}
	if !path.IsAbs(m.Source) {
		return container.MountPoint{}, bad(fmt.Errorf("invalid mount path: '%s' mount path must be absolute", m.Source))
	}
	create := m.BindOptions != nil && m.BindOptions.CreateMountpoint
	if _, err := os.Stat(m.Source); err != nil && !create {
		if errors.Is(err, os.ErrNotExist) {
			return container.MountPoint{}, bad(fmt.Errorf("bind source path does not exist: %s", m.Source))
		}
		return container.MountPoint{}, bad(err)
	}
	prop := mount.PropagationRPrivate
	if m.BindOptions != nil && m.BindOptions.Propagation != "" {
		prop = m.BindOptions.Propagation
	}
	return container.MountPoint{Type: mount.TypeBind, Source: path.Clean(m.Source), Destination: m.Target, RW: !m.ReadOnly, Propagation: prop}, nil
}

// EnsureBindSources creates missing host directories for bind mounts, as
// Docker does at start for -v binds. The daemon calls it before Generate.
func EnsureBindSources(mps []container.MountPoint) error {
	for _, mp := range mps {
		if mp.Type != mount.TypeBind || mp.Source == "" {
			continue
		}
		if _, err := os.Lstat(mp.Source); err == nil {
			continue
		}
		if err := os.MkdirAll(mp.Source, 0o755); err != nil {
			return fmt.Errorf("error while creating mount source path '%s': %w", mp.Source, err)
		}
	}
	return nil
}
