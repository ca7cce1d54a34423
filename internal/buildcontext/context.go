// Package buildcontext prepares the build context `berth build` sends to
// POST /build, the way docker CLI 28's legacy builder client does: a local
// directory tarred with .dockerignore applied, a tar or a bare Dockerfile on
// stdin, an http(s) URL downloaded by the client, or a git repository cloned
// by the client. It never talks to the daemon.
package buildcontext

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
)

// DefaultDockerfile is the name the daemon looks for when none is given.
const DefaultDockerfile = "Dockerfile"

// Kind is where a context comes from.
type Kind string

const (
	KindStdin  Kind = "stdin"  // "-": a tar, or a Dockerfile wrapped into one
	KindLocal  Kind = "local"  // a directory on this machine
	KindRemote Kind = "remote" // an http(s) URL of a tarball or a Dockerfile
	KindGit    Kind = "git"    // a git repository, cloned here
)

// ProgressFunc is told how many bytes of a download have been read so far
// (total is -1 when unknown); done is set once, on the last call.
type ProgressFunc func(read, total int64, done bool)

// Options say where the Dockerfile comes from and how to fetch remote contexts.
type Options struct {
	// Dockerfile is the -f value: "" for the default, "-" for stdin, else a
	// path. For a local context the path is relative to the working
	// directory; for the other kinds it is relative to the context root.
	Dockerfile string
	// Stdin is read for a "-" context or a "-" Dockerfile.
	Stdin io.Reader
	// HTTP fetches URL contexts and probes git servers; nil means http.DefaultClient.
	HTTP *http.Client
	// Download reports the progress of a URL context download (may be nil).
	Download ProgressFunc
}

func (o Options) httpClient() *http.Client {
	if o.HTTP != nil {
		return o.HTTP
	}
	return http.DefaultClient
}

// Context is a build context ready to send.
type Context struct {
	Kind Kind
	// Tar is the (uncompressed) tar stream of the context.
	Tar io.ReadCloser
	// Dockerfile is its path inside the tar, slash-separated; "" leaves the
	// choice to the daemon.
	Dockerfile string

	cleanup []func() error
}

// Close closes the stream and removes any temporary directory made for it.
func (c *Context) Close() error {
	var errs []error
	if c.Tar != nil {
		errs = append(errs, c.Tar.Close())
	}
	for i := len(c.cleanup) - 1; i >= 0; i-- {
		errs = append(errs, c.cleanup[i]())
	}
	c.cleanup = nil
	return errors.Join(errs...)
}

// New prepares the context named by spec (a path, a URL or "-"). Errors
// carry docker's wording for each kind of context.
func New(ctx context.Context, spec string, o Options) (*Context, error) {
	kind, err := Detect(spec)
	if err != nil {
		return nil, err
	}
	var c *Context
	switch kind {
	case KindStdin:
		if o.Dockerfile == "-" {
			return nil, errors.New("invalid argument: can't use stdin for both build context and dockerfile")
		}
		if c, err = FromReader(o.Stdin, o.Dockerfile); err != nil {
			return nil, fmt.Errorf("unable to prepare context from STDIN: %w", err)
		}
	case KindLocal:
		if c, err = FromDir(spec, o); err != nil {
			return nil, fmt.Errorf("unable to prepare context: %w", err)
		}
	case KindGit:
		if c, err = FromGit(ctx, spec, o); err != nil {
			return nil, fmt.Errorf("unable to prepare context: %w", err)
		}
	case KindRemote:
		if c, err = FromURL(ctx, spec, o); err != nil {
			return nil, err
		}
	}
	c.Kind = kind
	return c, nil
}

// removeAllFunc is a cleanup that removes dir.
func removeAllFunc(dir string) func() error {
	return func() error { return os.RemoveAll(dir) }
}
