package integration

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/berth-project/berth/tests/testutil"
)

// TestLoadErrors loads archives that are no image, or a broken one, through
// the docker CLI, the raw API and docker-py. dockerd answers 200 before it
// reads the archive, so every failure is the stream's error line: the CLI
// prints the bare message and exits 1, docker-py raises ImageLoadError. The
// messages are dockerd 28's (dockerd 20.10 unpacked in a child process and
// prefixed the tar reader's errors with "Error processing tar file(exit
// status 1): ", which a dockerd run of this test allows). Nothing is left
// behind: no image, layer, blob or temp dir, and the intact archive loads
// afterwards.
func TestLoadErrors(t *testing.T) {
	if env == nil {
		t.Skip("no daemon")
	}
	c := newCase(t, testutil.DockerDriver(env.daemon, env.cfgDir))
	mark := randHex(6)
	ref := "loaderr:" + mark
	// A layer of its own, so no store has it yet, with a file big enough
	// that cutting the tar short cuts inside the file.
	layer := tarOf(c, map[string]string{"etc/loaderr": mark, "big": strings.Repeat("x", 8192)})
	diffID := sha256Of(layer)
	config := fmt.Sprintf(`{"architecture":%q,"os":"linux","config":{"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":[%q]}}`,
		runtime.GOARCH, "sha256:"+diffID)
	manifest := fmt.Sprintf(`[{"Config":"config.json","RepoTags":[%q],"Layers":["%s/layer.tar"]}]`, ref, diffID)
	archive := func(layerData []byte, manifestData string) []byte {
		files := map[string]string{"config.json": config, "manifest.json": manifestData}
		if layerData != nil {
			files[diffID+"/layer.tar"] = string(layerData)
		}
		return tarOf(c, files)
	}
	otherLayer := tarOf(c, map[string]string{"etc/loaderr": mark + "-other", "big": strings.Repeat("x", 8192)})
	twoLayers := fmt.Sprintf(`[{"Config":"config.json","RepoTags":[%q],"Layers":["%s/layer.tar","%s/layer.tar"]}]`, ref, diffID, diffID)
	tmp := `open /.+/docker-import-\d+/`
	cases := []struct {
		name string
		data []byte
		want string // a regexp of the whole message
		// docker 21 (API 1.42) added the check: dockerd 20.10 loads nothing
		// and reports no error
		since string
	}{
		{"not-a-tar", []byte("hello, this is no tar\n"), `unexpected EOF`, ""},
		{"garbage", bytes.Repeat([]byte("garbage!"), 512), `archive/tar: invalid tar header`, ""},
		{"empty", nil, tmp + `repositories: no such file or directory`, ""},
		{"no-manifest", tarOf(c, map[string]string{"readme.txt": "hi"}), tmp + `repositories: no such file or directory`, ""},
		{"no-manifest-dir", tarOf(c, map[string]string{"notes/readme.txt": "hi"}), tmp + `notes/json: no such file or directory`, ""},
		{"null-manifest", archive(layer, "null"), regexp.QuoteMeta(`invalid manifest, manifest cannot be null (but can be [])`), "1.42"},
		{"missing-layer", archive(nil, manifest), tmp + diffID + `/layer\.tar: no such file or directory`, ""},
		{"layer-count", archive(layer, twoLayers), `invalid manifest, layers length mismatch: expected 2, got 1`, ""},
		{"truncated-layer", archive(layer[:1500], manifest), `unexpected EOF`, ""},
		{"garbage-layer", archive(bytes.Repeat([]byte("garbage!"), 512), manifest), `archive/tar: invalid tar header`, ""},
		{"other-layer", archive(otherLayer, manifest),
			regexp.QuoteMeta(fmt.Sprintf(`invalid diffID for layer 0: expected "sha256:%s", got "sha256:%s"`, diffID, sha256Of(otherLayer))), ""},
	}
	dir := c.tempDir()
	before := storeEntries(t)
	imagesBefore := c.imageIDs("-a", "--no-trunc")
	var files []string
	for _, tc := range cases {
		p := filepath.Join(dir, tc.name+".tar")
		if err := os.WriteFile(p, tc.data, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	older := func(since string) bool {
		return since != "" && env.daemon.Target == testutil.TargetDockerd && !c.apiAtLeast(since)
	}
	match := func(t *testing.T, what, got, want string) {
		t.Helper()
		if env.daemon.Target == testutil.TargetDockerd {
			got = strings.TrimPrefix(got, "Error processing tar file(exit status 1): ")
		}
		if !regexp.MustCompile(`^` + want + `$`).MatchString(got) {
			t.Errorf("%s: got %q, want /%s/", what, got, want)
		}
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCase(t, c.dr)
			if older(tc.since) {
				t.Skipf("dockerd before API %s", tc.since)
			}
			r := c.code(1, "load", "-i", files[i])
			if r.Out() != "" {
				t.Errorf("load printed %q on stdout", r.Out())
			}
			match(t, "cli", strings.TrimSpace(r.Stderr), tc.want)
			st, msg := loadRaw(t, tc.data)
			if st != http.StatusOK {
				t.Errorf("API status %d, want 200 (the error is in the stream)", st)
			}
			match(t, "api", msg, tc.want)
		})
	}
	t.Run("python", func(t *testing.T) {
		if err := exec.Command(python3(), "-c", "import docker").Run(); err != nil {
			t.Skip("python3-docker is not installed")
		}
		const script = `
import docker, json, sys
cli = docker.DockerClient(base_url='unix://' + sys.argv[1])
out = []
for p in sys.argv[2:]:
    try:
        cli.images.load(open(p, 'rb').read())
        out.append(['loaded', ''])
    except Exception as e:
        out.append([type(e).__name__, str(e)])
print(json.dumps(out))
`
		res, err := exec.Command(python3(), append([]string{"-c", script, env.daemon.Sock}, files...)...).Output()
		if err != nil {
			t.Fatalf("docker-py: %v %s", err, res)
		}
		var got [][2]string
		if err := json.Unmarshal(res, &got); err != nil || len(got) != len(cases) {
			t.Fatalf("docker-py answered %s (%v)", res, err)
		}
		for i, tc := range cases {
			if older(tc.since) {
				continue
			}
			if got[i][0] != "ImageLoadError" {
				t.Errorf("%s: docker-py raised %s %q, want ImageLoadError", tc.name, got[i][0], got[i][1])
				continue
			}
			match(t, tc.name, got[i][1], tc.want)
		}
	})
	if after := c.imageIDs("-a", "--no-trunc"); after != imagesBefore {
		t.Errorf("failed loads left images:\nbefore %q\nafter  %q", imagesBefore, after)
	}
	if after := storeEntries(t); !slices.Equal(after, before) {
		t.Errorf("failed loads left store entries:\nbefore %q\nafter  %q", before, after)
	}
	// The intact archive loads after all that.
	good := filepath.Join(dir, "good.tar")
	if err := os.WriteFile(good, archive(layer, manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	c.Cleanup(func() { c.run("rmi", ref) })
	c.wantEq(c.ok("load", "-i", good), "Loaded image: "+ref, "intact archive")
	c.wantEq(c.inspect(ref, "{{.RootFS.Layers}}"), "[sha256:"+diffID+"]", "loaded layer")
	// A layer the store has is not read again, so an archive without it
	// loads now (dockerd's lookup by chain ID comes before the file).
	without := filepath.Join(dir, "without.tar")
	if err := os.WriteFile(without, archive(nil, manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	c.wantEq(c.ok("load", "-i", without), "Loaded image: "+ref, "archive without a stored layer")
}

// loadRaw posts data to /images/load and returns the status and the
// stream's error message. Raw on purpose: it checks the stream's error
// shape (error and errorDetail agree) that the client hides.
func loadRaw(t *testing.T, data []byte) (int, string) {
	t.Helper()
	resp, err := daemonHTTP().Post("http://d/v1.41/images/load?quiet=1", "application/x-tar", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var msg string
	for dec := json.NewDecoder(bytes.NewReader(b)); ; {
		var m struct {
			Message     string
			Error       string
			ErrorDetail struct{ Message string }
		}
		if err := dec.Decode(&m); err != nil {
			break
		}
		if m.Error != "" {
			if m.ErrorDetail.Message != m.Error {
				t.Errorf("errorDetail %q differs from error %q", m.ErrorDetail.Message, m.Error)
			}
			msg = m.Error
		} else if m.Message != "" {
			msg = m.Message
		}
	}
	return resp.StatusCode, msg
}

// storeEntries lists what the daemon keeps of images (blobs, layers,
// temp dirs), for either engine.
func storeEntries(t *testing.T) []string {
	t.Helper()
	dirs := []string{"content/blobs/sha256", "overlay", "tmp", "image/images"}
	if env.daemon.Target == testutil.TargetDockerd {
		dirs = []string{"image/overlay2/layerdb/sha256", "image/overlay2/imagedb/content/sha256", "overlay2", "tmp"}
	}
	var out []string
	for _, d := range dirs {
		ents, err := os.ReadDir(filepath.Join(env.daemon.Root, d))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, e := range ents {
			out = append(out, d+"/"+e.Name())
		}
	}
	sort.Strings(out)
	return out
}

func sha256Of(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
