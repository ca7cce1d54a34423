// Package cgroups owns where containers' cgroups live on a cgroup v1 (or
// hybrid) host: the mount root, a container's cgroups path below each
// hierarchy, and the few files berthd reads or writes itself. Everything
// else about cgroups (creating them, applying limits) is the runtime's.
package cgroups

import (
	"os"
	"path/filepath"
	"strings"
)

// Root is where the hierarchies are mounted.
const Root = "/sys/fs/cgroup"

// ContainerPath is the cgroups path (OCI linux.cgroupsPath) of container id
// under parent: "/<parent>/<id>", the same below every hierarchy.
func ContainerPath(parent, id string) string {
	return "/" + strings.Trim(parent, "/") + "/" + id
}

// Dir is path's directory in one controller's hierarchy
// ("memory", "/berth/<id>" → /sys/fs/cgroup/memory/berth/<id>).
func Dir(controller, path string) string {
	return filepath.Join(Root, controller, path)
}

// PathOf is the cgroups path of a directory in one controller's
// hierarchy (the inverse of Dir); false when dir is not below it.
func PathOf(controller, dir string) (string, bool) {
	rel, ok := strings.CutPrefix(dir, filepath.Join(Root, controller)+"/")
	if !ok || rel == "" {
		return "", false
	}
	return rel, true
}

// Dirs lists path's directories in every hierarchy where it exists.
func Dirs(path string) []string {
	dirs, _ := filepath.Glob(filepath.Join(Root, "*", strings.TrimPrefix(path, "/")))
	return dirs
}

// SetPidsMax writes pids.max of path ("max" for no limit): crun cannot
// write an unlimited -1 itself. A cgroup that is gone is not an error.
func SetPidsMax(path, value string) error {
	err := os.WriteFile(filepath.Join(Dir("pids", path), "pids.max"), []byte(value), 0)
	if os.IsNotExist(err) {
		return nil
	}
	return err
}
