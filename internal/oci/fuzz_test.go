package oci

import (
	"path"
	"testing"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
)

// FuzzParseMounts feeds -v, --mount and --tmpfs specs as the create
// endpoint receives them: no panic, errors are client errors, and every
// mount accepted has an absolute, clean destination that is not "/".
func FuzzParseMounts(f *testing.F) {
	f.Add("/src:/dst:ro", "bind", "/tmp", "/data", "/run")
	f.Add("vol:/data:rw,z", "volume", "v", "/v", "/t:size=1m")
	f.Add("/a:/b:c:d", "tmpfs", "", "/x/../y", "rel")
	f.Add(":/", "npipe", "", "/", "/")
	f.Add("/0", "volume", "0", "/", "/0")
	f.Add("/0", "tmpfs", "", "//", "/1")
	f.Fuzz(func(t *testing.T, bind, typ, src, dst, tmpfs string) {
		hc := &container.HostConfig{
			Binds:  []string{bind},
			Mounts: []mount.Mount{{Type: mount.Type(typ), Source: src, Target: dst}},
			Tmpfs:  map[string]string{tmpfs: ""},
		}
		mps, err := ParseMounts(hc)
		if err != nil {
			if !errdefs.IsInvalid(err) && !errdefs.IsNotFound(err) {
				t.Fatalf("error is not a client error: %v", err)
			}
			return
		}
		for _, mp := range mps {
			if !path.IsAbs(mp.Destination) || path.Clean(mp.Destination) != mp.Destination || mp.Destination == "/" {
				t.Fatalf("accepted destination %q from %q / %+v", mp.Destination, bind, hc.Mounts[0])
			}
		}
	})
}
