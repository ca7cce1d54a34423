package oci

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestDeviceCgroupRules(t *testing.T) {
	good := map[string]specs.LinuxDeviceCgroup{
		"c 1:5 r":    {Allow: true, Type: "c", Major: ptr(1), Minor: ptr(5), Access: "r"},
		"b *:* rwm":  {Allow: true, Type: "b", Access: "rwm"},
		"a 10:* mw":  {Allow: true, Type: "a", Major: ptr(10), Access: "mw"},
		"c 136:* rw": {Allow: true, Type: "c", Major: ptr(136), Access: "rw"},
	}
	for rule, want := range good {
		got, err := parseDeviceCgroupRule(rule)
		if err != nil {
			t.Fatalf("%q: %v", rule, err)
		}
		if got.Type != want.Type || got.Access != want.Access || !eqPtr(got.Major, want.Major) || !eqPtr(got.Minor, want.Minor) || !got.Allow {
			t.Errorf("%q: got %+v", rule, got)
		}
	}
	for _, rule := range []string{"bogus", "c 1:5", "x 1:5 r", "c 1:5 rwx", "c 1:5 rwmr", "c a:5 r", " c 1:5 r"} {
		err := ValidateDevices(&container.HostConfig{Resources: container.Resources{DeviceCgroupRules: []string{rule}}})
		if !errdefs.IsInvalid(err) || !strings.Contains(err.Error(), "invalid device cgroup rule format: '"+rule+"'") {
			t.Errorf("%q: %v", rule, err)
		}
	}
	for _, mode := range []string{"xyz", "rr", "rwmw"} {
		err := ValidateDevices(&container.HostConfig{Resources: container.Resources{Devices: []container.DeviceMapping{{PathOnHost: "/dev/null", CgroupPermissions: mode}}}})
		if !errdefs.IsInvalid(err) || err.Error() != "bad mode specified: "+mode {
			t.Errorf("mode %q: %v", mode, err)
		}
	}
}

func eqPtr(a, b *int64) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func TestWithDevices(t *testing.T) {
	hc := &container.HostConfig{Resources: container.Resources{
		Devices: []container.DeviceMapping{
			{PathOnHost: "/dev/null", PathInContainer: "/dev/mynull", CgroupPermissions: "rw"},
			{PathOnHost: "/dev/zero"},
		},
		DeviceCgroupRules: []string{"c 10:237 r"},
	}}
	s := gen(t, input(t, hc))
	var null, zero *specs.LinuxDevice
	for i := range s.Linux.Devices {
		switch s.Linux.Devices[i].Path {
		case "/dev/mynull":
			null = &s.Linux.Devices[i]
		case "/dev/zero":
			zero = &s.Linux.Devices[i]
		}
	}
	if null == nil || null.Type != "c" || null.Major != 1 || null.Minor != 3 || *null.FileMode != 0o666 {
		t.Fatalf("/dev/mynull: %+v", null)
	}
	if zero == nil || zero.Major != 1 || zero.Minor != 5 {
		t.Fatalf("/dev/zero: %+v", zero)
	}
	rules := s.Linux.Resources.Devices
	if rules[0].Allow || rules[0].Access != "rwm" {
		t.Fatalf("first rule must deny all: %+v", rules[0])
	}
	tail := rules[len(rules)-3:]
	if tail[0].Access != "rw" || *tail[0].Minor != 3 || tail[1].Access != "rwm" || *tail[1].Minor != 5 ||
		tail[2].Access != "r" || *tail[2].Major != 10 || *tail[2].Minor != 237 {
		t.Fatalf("rules: %+v", tail)
	}
}

func TestWithDevicesErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"/dev/nonexist": `error gathering device information while adding custom device "/dev/nonexist": no such file or directory`,
		file:            `error gathering device information while adding custom device "` + file + `": not a device node`,
	}
	for p, want := range cases {
		hc := &container.HostConfig{Resources: container.Resources{Devices: []container.DeviceMapping{{PathOnHost: p}}}}
		_, err := Generate(context.Background(), input(t, hc))
		if err == nil || err.Error() != want {
			t.Errorf("%s: got %v, want %s", p, err, want)
		}
	}
}

// A directory maps every device node below it, under the container path.
func TestWithDevicesDirectory(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mknod needs root")
	}
	dir := t.TempDir()
	if err := unix.Mknod(filepath.Join(dir, "z"), unix.S_IFCHR|0o640, int(unix.Mkdev(1, 5))); err != nil {
		t.Skipf("mknod: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "notadev"), nil, 0o644)
	hc := &container.HostConfig{Resources: container.Resources{Devices: []container.DeviceMapping{{PathOnHost: dir, PathInContainer: "/dev/dd", CgroupPermissions: "r"}}}}
	s := gen(t, input(t, hc))
	var found int
	for _, d := range s.Linux.Devices {
		if strings.HasPrefix(d.Path, "/dev/dd") {
			found++
			if d.Path != "/dev/dd/z" || *d.FileMode != 0o640 {
				t.Errorf("device %+v", d)
			}
		}
	}
	if found != 1 {
		t.Fatalf("want 1 device under /dev/dd, got %d: %+v", found, s.Linux.Devices)
	}
}

func TestPrivilegedHostDevices(t *testing.T) {
	s := gen(t, input(t, &container.HostConfig{Privileged: true}))
	var null bool
	for _, d := range s.Linux.Devices {
		if strings.HasPrefix(d.Path, "/dev/pts/") || d.Path == "/dev/console" {
			t.Errorf("privileged got %s", d.Path)
		}
		null = null || d.Path == "/dev/null"
	}
	if !null {
		t.Fatalf("privileged container lacks the host's /dev/null: %+v", s.Linux.Devices)
	}
}
