package buildcontext

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"github.com/moby/go-archive"
)

// addDockerfile puts the Dockerfile read from r into c's tar under a random
// name (".dockerfile.<20 hex>") so it cannot collide with a file of the
// context, and lists that name in .dockerignore so COPY never sees it; the
// daemon then builds from that name, as with docker.
func (c *Context) addDockerfile(r io.Reader) error {
	content, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("read Dockerfile: %w", err)
	}
	closeInput(r)
	name, err := randomDockerfileName()
	if err != nil {
		return err
	}
	now := time.Now()
	regular := func(n string) *tar.Header {
		return &tar.Header{Name: n, Mode: 0o600, Typeflag: tar.TypeReg, ModTime: now, AccessTime: now, ChangeTime: now}
	}
	c.Tar = archive.ReplaceFileTarWrapper(c.Tar, map[string]archive.TarModifierFunc{
		name: func(string, *tar.Header, io.Reader) (*tar.Header, []byte, error) {
			return regular(name), content, nil
		},
		".dockerignore": func(_ string, h *tar.Header, old io.Reader) (*tar.Header, []byte, error) {
			var b bytes.Buffer
			if h == nil {
				h = regular(".dockerignore")
				b.WriteString(".dockerignore")
			} else if _, err := b.ReadFrom(old); err != nil {
				return nil, nil, err
			}
			b.WriteString("\n" + name + "\n")
			return h, b.Bytes(), nil
		},
	})
	c.Dockerfile = name
	return nil
}

func randomDockerfileName() (string, error) {
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random Dockerfile name: %w", err)
	}
	return ".dockerfile." + hex.EncodeToString(b), nil
}
