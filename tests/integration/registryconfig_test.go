package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-project/berth/tests/testutil"
)

// registry-mirrors in daemon.json: a pull from any registry (here not
// Docker Hub) is served by the mirror when it has the image, and by the
// origin when it does not. /info shows the mirrors and insecure registries.
func TestRegistryMirrorFallback(t *testing.T) {
	origin, mirror := startBerthRegistry(t), startBerthRegistry(t)
	cfg := filepath.Join(t.TempDir(), "daemon.json")
	os.WriteFile(cfg, []byte(`{"registry-mirrors":["http://`+mirror+`"],
		"insecure-registries":["myreg.example:5000","10.99.0.0/16"],
		"max-concurrent-downloads":2,"max-concurrent-uploads":2}`), 0o644)
	o := newOwnDaemon(t, "--config-file", cfg)

	// The mirror has demo/bb; only the origin has demo/only.
	o.ok("tag", "busybox:latest", mirror+"/demo/bb:v1")
	o.ok("push", mirror+"/demo/bb:v1")
	o.ok("tag", "busybox:latest", origin+"/demo/only:v1")
	o.ok("push", origin+"/demo/only:v1")
	o.ok("rmi", mirror+"/demo/bb:v1", origin+"/demo/only:v1")

	out := o.ok("pull", origin+"/demo/bb:v1")
	if !strings.Contains(out, "Status: Downloaded newer image for "+origin+"/demo/bb:v1") {
		t.Errorf("pull through the mirror: %s", out)
	}
	if got := o.ok("image", "inspect", "-f", "{{range .RepoDigests}}{{.}} {{end}}", origin+"/demo/bb:v1"); !strings.Contains(got, origin+"/demo/bb@sha256:") {
		t.Errorf("repo digest under the origin's name: %q", got)
	}
	if got := o.ok("run", "--rm", origin+"/demo/bb:v1", "echo", "mirrored"); got != "mirrored" {
		t.Errorf("run: %q", got)
	}
	o.ok("pull", origin+"/demo/only:v1")
	r := o.dr.Run(context.Background(), nil, "pull", origin+"/demo/nowhere:v1")
	if r.Code == 0 || !strings.Contains(r.Stderr, "manifest unknown") {
		t.Errorf("pull of an image neither has: %s", r)
	}

	info := o.ok("info")
	for _, want := range []string{"Registry Mirrors:", "http://" + mirror + "/", "Insecure Registries:",
		"myreg.example:5000", "10.99.0.0/16", "127.0.0.0/8"} {
		if !strings.Contains(info, want) {
			t.Errorf("info lacks %q:\n%s", want, info)
		}
	}
}

// Registry keys follow dockerd's rules: a flag and the same daemon.json
// key conflict, and a bad mirror or insecure entry stops berthd starting.
func TestRegistryConfigRejected(t *testing.T) {
	if env == nil || env.daemon.Target != testutil.TargetBerthd {
		t.Skip("berthd-only: starts berthd with its own daemon.json")
	}
	for name, c := range map[string]struct {
		file, flag, want string
	}{
		"conflict":     {`{"registry-mirrors":["http://127.0.0.1:1"]}`, "--registry-mirror=http://127.0.0.1:2", "specified both as a flag and in the configuration file: registry-mirrors"},
		"bad-mirror":   {`{"registry-mirrors":["ftp://mirror"]}`, "", `invalid mirror: unsupported scheme "ftp"`},
		"bad-insecure": {`{"insecure-registries":["ftp://reg:5000"]}`, "", "insecure registry ftp://reg:5000 should not contain '://'"},
		"bad-uploads":  {`{"max-concurrent-uploads":-1}`, "", "invalid max concurrent uploads: -1"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "daemon.json")
			os.WriteFile(cfg, []byte(c.file), 0o644)
			dir, err := os.MkdirTemp("/tmp", "brc")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { testutil.RemoveDir(dir) })
			args := []string{"--config-file", cfg}
			if c.flag != "" {
				args = append(args, c.flag)
			}
			d, err := testutil.StartBerthdIn(context.Background(), dir, args...)
			if err == nil {
				d.Shutdown()
				t.Fatalf("berthd started with %s %s", c.file, c.flag)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
}
