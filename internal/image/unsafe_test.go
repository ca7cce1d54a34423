package image

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-project/berth/internal/errdefs"
)

func TestImportRejectsUnsafeTar(t *testing.T) {
	needRoot(t)
	outside := t.TempDir() // a directory the archives try to reach
	cases := map[string][]entry{
		"dotdot": {{hdr: tar.Header{Name: "../x", Typeflag: tar.TypeReg}, body: []byte("x")}},
		"deep dotdot": {{hdr: tar.Header{Name: "a/", Typeflag: tar.TypeDir}},
			{hdr: tar.Header{Name: "a/../../x", Typeflag: tar.TypeReg}, body: []byte("x")}},
		"absolute": {{hdr: tar.Header{Name: filepath.Join(outside, "abs"), Typeflag: tar.TypeReg}, body: []byte("x")}},
		"through symlink": {
			{hdr: tar.Header{Name: "link", Typeflag: tar.TypeSymlink, Linkname: outside}},
			{hdr: tar.Header{Name: "link/pwned", Typeflag: tar.TypeReg}, body: []byte("x")}},
		"through relative symlink": {
			{hdr: tar.Header{Name: "d/", Typeflag: tar.TypeDir}},
			{hdr: tar.Header{Name: "d/up", Typeflag: tar.TypeSymlink, Linkname: "../../../../../../.."}},
			{hdr: tar.Header{Name: "d/up/tmp/pwned", Typeflag: tar.TypeReg}, body: []byte("x")}},
		"hardlink outside": {{hdr: tar.Header{Name: "passwd", Typeflag: tar.TypeLink, Linkname: "/etc/passwd"}}},
		"hardlink dotdot":  {{hdr: tar.Header{Name: "passwd", Typeflag: tar.TypeLink, Linkname: "../../../../etc/passwd"}}},
	}
	for name, es := range cases {
		t.Run(name, func(t *testing.T) {
			s := newStore(t)
			_, err := s.Import(context.Background(), bytes.NewReader(makeTar(t, es)), nil, "")
			if !errdefs.IsInvalid(err) {
				t.Fatalf("want invalid-argument error, got %v", err)
			}
			if ents, _ := os.ReadDir(outside); len(ents) != 0 {
				t.Errorf("wrote outside: %v", ents)
			}
			if _, err := os.Stat("/tmp/pwned"); err == nil {
				t.Errorf("wrote /tmp/pwned")
			}
			if imgs, _ := s.List(context.Background()); len(imgs) != 0 {
				t.Errorf("image left behind: %v", imgs)
			}
			assertEmptyStore(t, s)
		})
	}
}

func TestImportCompressedAndChanges(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	s := newStore(t)
	var gz bytes.Buffer
	raw := busyboxTar(t)
	zw := newGzip(&gz)
	zw.Write(raw)
	zw.Close()
	img, err := s.Import(ctx, &gz, []string{"ENV X=1", "WORKDIR /w", `ENTRYPOINT ["/bin/sh"]`,
		"LABEL a=b", "USER 1:1", "VOLUME /data", "STOPSIGNAL SIGINT",
		"ONBUILD RUN true", "HEALTHCHECK CMD true"}, "msg")
	if err != nil {
		t.Fatal(err)
	}
	c := img.Config.Config
	if c.Env[0] != "X=1" || c.WorkingDir != "/w" || c.Entrypoint[0] != "/bin/sh" || c.Labels["a"] != "b" ||
		c.User != "1:1" || c.StopSignal != "SIGINT" || c.OnBuild[0] != "RUN true" ||
		c.Healthcheck == nil || len(c.Volumes) != 1 {
		t.Errorf("config %+v", c)
	}
	f, _ := s.content.Open(img.Layers[0])
	stored, _ := readAll(f)
	f.Close()
	if !bytes.Equal(stored, raw) {
		t.Errorf("layer not stored uncompressed byte for byte")
	}
	if _, err := s.Import(ctx, bytes.NewReader(raw), []string{"RUN true"}, ""); err == nil ||
		err.Error() != "RUN is not a valid change command" || !errdefs.IsInvalid(err) {
		t.Errorf("RUN change: %v", err)
	}
	// SHELL is no change dockerd takes either.
	if _, err := s.Import(ctx, bytes.NewReader(raw), []string{`SHELL ["/bin/ash","-c"]`}, ""); err == nil ||
		err.Error() != "SHELL is not a valid change command" {
		t.Errorf("SHELL change: %v", err)
	}
}
