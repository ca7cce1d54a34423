package integration

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBuildLargeContext builds with context files big enough that berthd
// keeps their content in memory and leaves them sparse on disk until a
// step reads them. Every way a step can read the context must see the real
// bytes: COPY on a miss, COPY after an earlier hit, ADD of an archive,
// RUN --mount=type=bind; and a file .dockerignore drops must not return.
func TestBuildLargeContext(t *testing.T) {
	forEachDriver(t, []scenario{
		{"large-files", func(c *tcase) {
			big := make([]byte, 3<<20)
			rand.Read(big)
			sum := sha256.Sum256(big)
			want := hex.EncodeToString(sum[:])
			var arch bytes.Buffer
			tw := tar.NewWriter(&arch)
			inner := bytes.Repeat([]byte("archived "), 300000) // 2.7 MB
			tw.WriteHeader(&tar.Header{Name: "inner.txt", Mode: 0o644, Size: int64(len(inner)), ModTime: time.Unix(1700000000, 0)})
			tw.Write(inner)
			tw.Close()
			dir := c.buildDir(map[string]string{
				"Dockerfile": "FROM busybox\n" +
					"COPY big.bin /big.bin\n" +
					"RUN sha256sum /big.bin > /sum\n" +
					"COPY small.txt /small.txt\n" +
					"COPY big.bin /again.bin\n" +
					"ADD pack.tar /unpacked/\n",
				"small.txt":     "v1",
				".dockerignore": "ignored.bin\n",
			})
			for name, data := range map[string][]byte{"big.bin": big, "pack.tar": arch.Bytes(), "ignored.bin": big} {
				if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
					c.Fatal(err)
				}
			}
			img := c.image("blarge")
			check := func(what string) {
				c.Helper()
				out := c.ok(runArgs("--rm", img, "sh", "-c",
					"cut -d' ' -f1 /sum; sha256sum /again.bin | cut -d' ' -f1; wc -c < /unpacked/inner.txt; cat /small.txt; echo; ls /ignored.bin 2>&1 || true")...)
				ls := lines(out)
				if len(ls) < 5 || ls[0] != want || ls[1] != want || strings.TrimSpace(ls[2]) != "2700000" {
					c.Fatalf("%s: image content wrong (want sums %s, 2700000 unpacked bytes):\n%s", what, want, out)
				}
				c.wantContains(ls[4], "No such file", what+": ignored file")
			}
			c.buildOK(dir, "-t", img)
			check("cold build")
			out := c.buildOK(dir, "-t", img)
			if n := strings.Count(out, "Using cache"); n != 5 {
				c.Errorf("fully cached rebuild: %d cache hits, want 5:\n%s", n, out)
			}
			check("cached rebuild")
			// COPY big.bin hits, COPY small.txt misses: the later COPY of
			// the same big file must copy its real bytes.
			os.WriteFile(filepath.Join(dir, "small.txt"), []byte("v2"), 0o644)
			out = c.buildOK(dir, "-t", img)
			if n := strings.Count(out, "Using cache"); n != 2 {
				c.Errorf("after changing small.txt: %d cache hits, want 2:\n%s", n, out)
			}
			check("partly cached rebuild")
			c.wantEq(lines(c.ok(runArgs("--rm", img, "cat", "/small.txt")...))[0], "v2", "changed file")
		}},
		{"large-file-bind-mount", func(c *tcase) {
			berthdOnly(c)
			big := make([]byte, 2<<20)
			rand.Read(big)
			sum := sha256.Sum256(big)
			dir := c.buildDir(map[string]string{
				"Dockerfile": "# syntax=docker/dockerfile:1\nFROM busybox\nRUN --mount=type=bind,source=big.bin,target=/b sha256sum /b | cut -d' ' -f1 > /sum\n",
			})
			os.WriteFile(filepath.Join(dir, "big.bin"), big, 0o644)
			img := c.image("bbind")
			c.buildOK(dir, "-t", img)
			c.wantEq(c.ok(runArgs("--rm", img, "cat", "/sum")...), hex.EncodeToString(sum[:]), "bind-mounted content")
		}},
	})
}
