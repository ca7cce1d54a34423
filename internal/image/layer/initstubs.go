package layer

import (
	"os"
	"path"
	"path/filepath"
)

// initPaths are the mountpoints the runtime makes in a container's root
// when its image lacks them (the /etc files berthd bind-mounts, the
// kernel filesystems). dockerd makes them in an init layer beneath the
// container's read-write layer, so neither `docker diff` nor a commit or a
// build step's layer ever shows them; here they land in the upper dir and
// are left out of both instead.
var initPaths = map[string]bool{
	"etc/hosts": true, "etc/hostname": true, "etc/resolv.conf": true, "etc/mtab": true,
	".dockerenv": true, "proc": true, "sys": true, "dev": true,
	"dev/pts": true, "dev/shm": true, "dev/mqueue": true, "dev/console": true,
}

// initStubs lists what of upper is only such mountpoints: an init path
// the image does not have that is an empty file, an empty directory or
// the mtab symlink, and a directory above init paths that holds nothing
// else (an /etc copied up only to hold the stubs). Anything the
// container really wrote stays.
func initStubs(upper string, lowers []string) map[string]bool {
	out := map[string]bool{}
	var visit func(rel string) (onlyStubs bool)
	visit = func(rel string) bool {
		fi, err := os.Lstat(filepath.Join(upper, rel))
		if err != nil {
			return false
		}
		isInit := initPaths[rel] && !inLowers(lowers, rel)
		switch {
		case isInit && fi.Mode().IsRegular() && fi.Size() == 0,
			isInit && rel == "etc/mtab" && fi.Mode()&os.ModeSymlink != 0:
			out[rel] = true
			return true
		case !fi.IsDir() || !(isInit || isInitParent(rel)):
			return false
		}
		entries, err := os.ReadDir(filepath.Join(upper, rel))
		if err != nil {
			return false
		}
		all := true
		for _, e := range entries {
			if !visit(path.Join(rel, e.Name())) {
				all = false
			}
		}
		// A parent that only holds stubs goes with them; an empty one
		// that is no init path is the container's own (a copied-up dir
		// whose metadata changed).
		if all && (isInit || len(entries) > 0) {
			out[rel] = true
		}
		return all && (isInit || len(entries) > 0)
	}
	for _, top := range []string{"etc", "dev", "proc", "sys", ".dockerenv"} {
		visit(top)
	}
	return out
}

// isInitParent reports a directory above an init path.
func isInitParent(rel string) bool {
	for p := range initPaths {
		if d := path.Dir(p); d == rel {
			return true
		}
	}
	return false
}
