package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// buildDockerfile has 3 RUN steps and a 50 MB COPY; late.txt is the file
// the "one file changed" rebuild touches.
const buildDockerfile = `FROM busybox
RUN echo one > /one
COPY big.bin /big.bin
RUN echo two > /two
COPY late.txt /late.txt
RUN cat /late.txt > /three
`

// measureBuild times a cold build, a fully cached rebuild and a rebuild
// after changing the file copied last, all with --network none so both
// engines do the same work.
func measureBuild(ctx context.Context, s *session, runs int) (cold, cached, changed time.Duration, err error) {
	dir, err := os.MkdirTemp("", "berth-bench-build")
	if err != nil {
		return 0, 0, 0, err
	}
	defer os.RemoveAll(dir)
	big := make([]byte, 50<<20)
	rand.Read(big)
	if err := os.WriteFile(filepath.Join(dir, "big.bin"), big, 0o644); err != nil {
		return 0, 0, 0, err
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(buildDockerfile), 0o644); err != nil {
		return 0, 0, 0, err
	}
	n := 0
	touch := func() error {
		n++
		return os.WriteFile(filepath.Join(dir, "late.txt"), fmt.Appendf(nil, "v%d", n), 0o644)
	}
	if err := touch(); err != nil {
		return 0, 0, 0, err
	}
	build := func(extra ...string) error {
		args := append([]string{"build", "-q", "--network", "none", "-t", "bench-build:latest"}, extra...)
		_, err := s.run(ctx, append(args, dir)...)
		return err
	}
	if cold, err = median(3, func() error { return build("--no-cache") }); err != nil {
		return 0, 0, 0, err
	}
	if cached, err = median(runs, func() error { return build() }); err != nil {
		return 0, 0, 0, err
	}
	changed, err = median(runs, func() error {
		if err := touch(); err != nil {
			return err
		}
		return build()
	})
	return cold, cached, changed, err
}
