package oci

import (
	"context"
	"slices"
	"testing"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
)

func TestParseMounts(t *testing.T) {
	src := t.TempDir()
	tests := []struct {
		name string
		hc   container.HostConfig
		want []container.MountPoint
		err  string
	}{
		{name: "bind rw", hc: container.HostConfig{Binds: []string{src + ":/data"}},
			want: []container.MountPoint{{Type: mount.TypeBind, Source: src, Destination: "/data", RW: true, Propagation: mount.PropagationRPrivate}}},
		{name: "bind ro with propagation", hc: container.HostConfig{Binds: []string{src + "/:/data/:ro,rshared"}},
			want: []container.MountPoint{{Type: mount.TypeBind, Source: src, Destination: "/data", Mode: "ro,rshared", Propagation: mount.PropagationRShared}}},
		{name: "bind z", hc: container.HostConfig{Binds: []string{src + ":/data:z"}},
			want: []container.MountPoint{{Type: mount.TypeBind, Source: src, Destination: "/data", Mode: "z", RW: true, Propagation: mount.PropagationRPrivate}}},
		{name: "missing -v source is created at start", hc: container.HostConfig{Binds: []string{"/nonexistent/x:/data"}},
			want: []container.MountPoint{{Type: mount.TypeBind, Source: "/nonexistent/x", Destination: "/data", RW: true, Propagation: mount.PropagationRPrivate}}},
		{name: "named volume", hc: container.HostConfig{Binds: []string{"vol1:/data:ro"}},
			want: []container.MountPoint{{Type: mount.TypeVolume, Name: "vol1", Driver: "local", Destination: "/data", Mode: "ro"}}},
		{name: "anonymous volume", hc: container.HostConfig{Binds: []string{"/data"}},
			want: []container.MountPoint{{Type: mount.TypeVolume, Driver: "local", Destination: "/data", RW: true}}},
		{name: "--mount bind", hc: container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeBind, Source: src, Target: "/m", ReadOnly: true, BindOptions: &mount.BindOptions{Propagation: mount.PropagationSlave}}}},
			want: []container.MountPoint{{Type: mount.TypeBind, Source: src, Destination: "/m", Propagation: mount.PropagationSlave}}},
		{name: "--mount tmpfs", hc: container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeTmpfs, Target: "/t", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 1 << 20}}}},
			want: []container.MountPoint{{Type: mount.TypeTmpfs, Destination: "/t", RW: true}}},
		{name: "--tmpfs not listed", hc: container.HostConfig{Tmpfs: map[string]string{"/run": "size=1m"}}},
		{name: "too many parts", hc: container.HostConfig{Binds: []string{"/a:/b:ro:x"}}, err: "invalid volume specification: '/a:/b:ro:x'"},
		{name: "empty", hc: container.HostConfig{Binds: []string{""}}, err: "invalid volume specification: ''"},
		{name: "dest with mode only", hc: container.HostConfig{Binds: []string{"/foo:rw"}}, err: "invalid volume specification: '/foo:rw'"},
		{name: "relative host path", hc: container.HostConfig{Binds: []string{"./data:/d"}},
			err: `create ./data: "./data" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`},
		{name: "bad mode", hc: container.HostConfig{Binds: []string{src + ":/d:rx"}}, err: "invalid mode: rx"},
		{name: "conflicting modes", hc: container.HostConfig{Binds: []string{src + ":/d:ro,rw"}}, err: "invalid mode: ro,rw"},
		{name: "relative dest", hc: container.HostConfig{Binds: []string{src + ":rel"}},
			err: "invalid volume specification: '" + src + ":rel': invalid mount config for type \"bind\": invalid mount path: 'rel' mount path must be absolute"},
		{name: "root dest", hc: container.HostConfig{Binds: []string{src + ":/"}},
			err: "invalid volume specification: '" + src + ":/': invalid mount config for type \"bind\": invalid specification: destination can't be '/'"},
		{name: "duplicate", hc: container.HostConfig{Binds: []string{src + ":/d", "vol:/d/"}}, err: "Duplicate mount point: /d"},
		{name: "duplicate across kinds", hc: container.HostConfig{Binds: []string{src + ":/d"}, Tmpfs: map[string]string{"/d": ""}}, err: "Duplicate mount point: /d"},
		{name: "--mount missing source", hc: container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeBind, Source: "/does/not/exist", Target: "/x"}}},
			err: `invalid mount config for type "bind": bind source path does not exist: /does/not/exist`},
		{name: "--mount relative source", hc: container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeBind, Source: "rel", Target: "/x"}}},
			err: `invalid mount config for type "bind": invalid mount path: 'rel' mount path must be absolute`},
		{name: "--mount no target", hc: container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeBind, Source: src}}},
			err: `invalid mount config for type "bind": field Target must not be empty`},
		{name: "--mount tmpfs with source", hc: container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeTmpfs, Source: "/x", Target: "/t"}}},
			err: `invalid mount config for type "tmpfs": field Source must not be specified`},
		{name: "--mount unknown type", hc: container.HostConfig{Mounts: []mount.Mount{{Type: "weird", Target: "/t"}}}, err: `mount type unknown: "weird"`},
		{name: "--tmpfs relative", hc: container.HostConfig{Tmpfs: map[string]string{"run": ""}}, err: "invalid mount path: 'run' mount path must be absolute"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMounts(&tt.hc)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				if !errdefs.IsInvalid(err) {
					t.Errorf("error %v is not Invalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestUserMountsInSpec(t *testing.T) {
	src := t.TempDir()
	hc := &container.HostConfig{
		Binds:  []string{src + ":/a/b:ro", src + ":/a"},
		Mounts: []mount.Mount{{Type: mount.TypeTmpfs, Target: "/t", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 1 << 20, Mode: 0o1777}}},
		Tmpfs:  map[string]string{"/run": "exec,size=2m"},
	}
	mps, err := ParseMounts(hc)
	if err != nil {
		t.Fatal(err)
	}
	in := input(t, hc)
	in.Mounts = mps
	s := gen(t, in)
	var order []string
	for _, m := range s.Mounts {
		order = append(order, m.Destination)
	}
	if slices.Index(order, "/a") > slices.Index(order, "/a/b") {
		t.Errorf("parent mounted after child: %v", order)
	}
	if m := findMount(s, "/a/b"); m.Type != "bind" || !slices.Equal(m.Options, []string{"rbind", "ro", "rprivate"}) {
		t.Errorf("/a/b = %+v", m)
	}
	if m := findMount(s, "/t"); !slices.Equal(m.Options, []string{"noexec", "nosuid", "nodev", "size=1048576", "mode=1777"}) {
		t.Errorf("/t = %+v", m)
	}
	if m := findMount(s, "/run"); !slices.Equal(m.Options, []string{"nosuid", "nodev", "exec", "size=2m"}) {
		t.Errorf("/run = %+v", m)
	}

	// A volume without a source (not yet created by the daemon) cannot run.
	in.Mounts = []container.MountPoint{{Type: mount.TypeVolume, Name: "v", Destination: "/v"}}
	if _, err := Generate(context.Background(), in); err == nil {
		t.Error("volume without source accepted")
	}
	// A user mount on /dev/shm replaces the default one.
	in.Mounts = []container.MountPoint{{Type: mount.TypeBind, Source: src, Destination: "/dev/shm", RW: true}}
	n := 0
	for _, m := range gen(t, in).Mounts {
		if m.Destination == "/dev/shm" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d mounts at /dev/shm", n)
	}
}

func TestEnsureBindSources(t *testing.T) {
	dir := t.TempDir() + "/x/y"
	if err := EnsureBindSources([]container.MountPoint{{Type: mount.TypeBind, Source: dir}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseMounts(&container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeBind, Source: dir, Target: "/x"}}}); err != nil {
		t.Errorf("created source still missing: %v", err)
	}
}
