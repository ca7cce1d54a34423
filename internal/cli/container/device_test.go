package container

import (
	"testing"

	"github.com/moby/moby/api/types/container"
)

func TestParseDevice(t *testing.T) {
	good := map[string]container.DeviceMapping{
		"/dev/zero":                {PathOnHost: "/dev/zero", PathInContainer: "/dev/zero", CgroupPermissions: "rwm"},
		"/dev/zero:r":              {PathOnHost: "/dev/zero", PathInContainer: "/dev/zero", CgroupPermissions: "r"},
		"/dev/null:/dev/mynull":    {PathOnHost: "/dev/null", PathInContainer: "/dev/mynull", CgroupPermissions: "rwm"},
		"/dev/null:/dev/mynull:rw": {PathOnHost: "/dev/null", PathInContainer: "/dev/mynull", CgroupPermissions: "rw"},
	}
	for in, want := range good {
		got, err := parseDevice(in)
		if err != nil || got != want {
			t.Errorf("%s: got %+v, %v", in, got, err)
		}
	}
	for _, in := range []string{"/dev/a:/dev/b:xyz", "/a:/b:/c:rw"} {
		if _, err := parseDevice(in); err == nil {
			t.Errorf("%s: no error", in)
		}
	}
}
