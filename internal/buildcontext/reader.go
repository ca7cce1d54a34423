package buildcontext

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/moby/go-archive/compression"
)

// headerPeek is how much of a stream is looked at to tell a tar (or a
// compressed tar) from a Dockerfile: two tar blocks, as docker does.
const headerPeek = 1024

// FromReader turns r into a context: a tar (plain or compressed) is sent
// unchanged with dockerfile as its Dockerfile path; anything else is taken
// as the Dockerfile itself and wrapped into a one-file tar named Dockerfile.
func FromReader(r io.Reader, dockerfile string) (*Context, error) {
	if r == nil {
		return nil, errors.New("no input")
	}
	br := bufio.NewReaderSize(r, headerPeek)
	head, err := br.Peek(headerPeek)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("failed to peek context header from STDIN: %w", err)
	}
	if IsArchive(head) {
		return &Context{Tar: readCloser(br, r), Dockerfile: dockerfile}, nil
	}
	switch dockerfile {
	case "-":
		return nil, errors.New("build context is not an archive")
	case "":
	default:
		return nil, errors.New("ambiguous Dockerfile source: both stdin and flag correspond to Dockerfiles")
	}
	content, err := io.ReadAll(br)
	if err != nil {
		return nil, fmt.Errorf("read Dockerfile: %w", err)
	}
	closeInput(r)
	tarball, err := singleFileTar(DefaultDockerfile, content, 0o644, time.Now())
	if err != nil {
		return nil, err
	}
	return &Context{Tar: io.NopCloser(bytes.NewReader(tarball)), Dockerfile: DefaultDockerfile}, nil
}

// IsArchive reports whether header starts a compressed stream or a tar.
func IsArchive(header []byte) bool {
	if compression.Detect(header) != compression.None {
		return true
	}
	_, err := tar.NewReader(bytes.NewReader(header)).Next()
	return err == nil
}

// singleFileTar is a tar holding one regular file owned by root, like the
// one docker builds around a Dockerfile read from stdin.
func singleFileTar(name string, content []byte, mode int64, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	h := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(content)),
		ModTime: mtime.Truncate(time.Second)}
	if err := tw.WriteHeader(h); err != nil {
		return nil, fmt.Errorf("tar %s: %w", name, err)
	}
	if _, err := tw.Write(content); err != nil {
		return nil, fmt.Errorf("tar %s: %w", name, err)
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("tar %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

// readCloser reads from r and closes orig (when it is a Closer).
func readCloser(r io.Reader, orig io.Reader) io.ReadCloser {
	return struct {
		io.Reader
		io.Closer
	}{r, closerFunc(func() error { closeInput(orig); return nil })}
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

func closeInput(r io.Reader) {
	if c, ok := r.(io.Closer); ok {
		_ = c.Close()
	}
}
