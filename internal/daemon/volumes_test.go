package daemon

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-project/berth/internal/backend/volumes"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/events"
	"github.com/berth-project/berth/internal/volume"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
)

func volumeDaemon(t *testing.T) *Daemon {
	t.Helper()
	vs, err := volume.New(context.Background(), filepath.Join(t.TempDir(), "volumes"))
	if err != nil {
		t.Fatal(err)
	}
	bus := events.New()
	return &Daemon{volumes: vs, vols: volumes.New(vs, bus), events: bus, containers: newContainerIndex(), log: slog.New(slog.DiscardHandler)}
}

func volumeContainer(id string, mounts []container.MountPoint, imageVolumes ...string) *Container {
	cfg := &container.Config{Volumes: map[string]struct{}{}}
	for _, v := range imageVolumes {
		cfg.Volumes[v] = struct{}{}
	}
	c := &Container{ID: id, Name: "/" + id, Config: cfg, HostConfig: &container.HostConfig{}, Mounts: mounts}
	newContainerRuntimeState(c)
	return c
}

func TestContainerVolumeLifecycle(t *testing.T) {
	ctx := context.Background()
	d := volumeDaemon(t)
	c := volumeContainer("c1", []container.MountPoint{
		{Type: mount.TypeVolume, Name: "named", Driver: "local", Destination: "/named", RW: true},
		{Type: mount.TypeVolume, Driver: "local", Destination: "/anon", RW: true},
	}, "/anon", "/img")
	if err := d.createVolumeMounts(ctx, c); err != nil {
		t.Fatal(err)
	}
	if len(c.Mounts) != 3 {
		t.Fatalf("mounts = %+v; want named, anon and the image's /img", c.Mounts)
	}
	for _, mp := range c.Mounts {
		v, err := d.volumes.Get(ctx, mp.Name)
		if err != nil || mp.Source != v.Mountpoint {
			t.Fatalf("mount %+v: volume %v, %v", mp, v, err)
		}
		if d.volumes.RefCount(mp.Name) != 1 {
			t.Fatalf("volume %s not referenced", mp.Name)
		}
	}
	// Another container shares the named volume through --volumes-from.
	d.containers.add(c)
	c2 := volumeContainer("c2", nil)
	c2.HostConfig.VolumesFrom = []string{"c1:ro"}
	if err := d.createVolumeMounts(ctx, c2); err != nil {
		t.Fatal(err)
	}
	if len(c2.Mounts) != 3 || c2.Mounts[0].RW {
		t.Fatalf("volumes-from mounts = %+v", c2.Mounts)
	}
	if err := d.volumes.Remove(ctx, "named", false); !errdefs.IsConflict(err) {
		t.Fatalf("remove in use = %v", err)
	}

	// Copy-up at first start, from the container's root.
	rootfs := t.TempDir()
	os.MkdirAll(filepath.Join(rootfs, "img"), 0o755)
	os.WriteFile(filepath.Join(rootfs, "img", "seed"), []byte("x"), 0o644)
	if _, err := d.prepareVolumeMounts(ctx, c, rootfs); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(c.Mounts[2].Source, "seed")); err != nil {
		t.Fatalf("copy-up missing: %v", err)
	}
	d.unmountVolumes(ctx, c)

	// rm -v of c1: its anonymous volumes stay while c2 uses them, the named one always stays.
	d.releaseVolumes(ctx, c, true)
	if got := len(d.volumes.List(ctx, nil)); got != 3 {
		t.Fatalf("volumes after rm -v c1 = %d, want 3 (c2 still uses them)", got)
	}
	d.releaseVolumes(ctx, c2, true)
	left := d.volumes.List(ctx, nil)
	if len(left) != 1 || left[0].Name != "named" {
		t.Fatalf("volumes after rm -v c2 = %v, want only the named one", left)
	}
}

func TestCreateVolumeMountsRollsBack(t *testing.T) {
	ctx := context.Background()
	d := volumeDaemon(t)
	c := volumeContainer("c1", []container.MountPoint{
		{Type: mount.TypeVolume, Driver: "local", Destination: "/anon", RW: true},
		{Type: mount.TypeVolume, Name: "bad", Driver: "local", Destination: "/bad", RW: true},
	})
	c.HostConfig.Mounts = []mount.Mount{{Type: mount.TypeVolume, Source: "bad", Target: "/bad",
		VolumeOptions: &mount.VolumeOptions{DriverConfig: &mount.Driver{Name: "nosuchdriver"}}}}
	if err := d.createVolumeMounts(ctx, c); !errdefs.IsNotFound(err) {
		t.Fatalf("create with a missing driver = %v", err)
	}
	if left := d.volumes.List(ctx, nil); len(left) != 0 {
		t.Fatalf("failed create left volumes: %v", left)
	}
}
