package layer

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// Overlay's mount options must fit in one page. With 64-hex layer names an
// image of ~40 layers would not, so each layer also gets a short name,
// overlay/l/<26 chars> → ../<chain>/diff, and deep stacks are mounted with
// those relative names from inside the overlay dir (as Docker's overlay2).

func newShortID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return strings.TrimRight(base32.StdEncoding.EncodeToString(b), "=")[:26]
}

// ensureLink returns layer chain's short name, creating the file and the
// symlink if a crash or an older layout left them out.
func (s *Store) ensureLink(chain digest.Digest) (string, error) {
	linkFile := filepath.Join(s.layerDir(chain), "link")
	b, err := os.ReadFile(linkFile)
	short := strings.TrimSpace(string(b))
	if err != nil || short == "" {
		short = newShortID()
		if err := os.WriteFile(linkFile, []byte(short), 0o600); err != nil {
			return "", fmt.Errorf("layer link: %w", err)
		}
	}
	if err := os.MkdirAll(filepath.Join(s.dir, "l"), 0o700); err != nil {
		return "", fmt.Errorf("layer link: %w", err)
	}
	target := filepath.Join("..", chain.Encoded(), "diff")
	p := filepath.Join(s.dir, "l", short)
	if cur, err := os.Readlink(p); err == nil && cur == target {
		return short, nil
	}
	os.Remove(p)
	if err := os.Symlink(target, p); err != nil {
		return "", fmt.Errorf("layer link: %w", err)
	}
	return short, nil
}

// removeLink drops layer chain's short-name symlink.
func (s *Store) removeLink(chain digest.Digest) {
	if b, err := os.ReadFile(filepath.Join(s.layerDir(chain), "link")); err == nil {
		if short := strings.TrimSpace(string(b)); short != "" && !strings.ContainsAny(short, "/.") {
			os.Remove(filepath.Join(s.dir, "l", short))
		}
	}
}

// mountRelative mounts overlay with options relative to dir. The working
// directory is per-process, so the mount runs on a thread that first
// unshares its fs attributes; that thread is thrown away afterwards
// (the goroutine exits still locked) so no other goroutine sees the chdir.
func mountRelative(dir, target, opts string) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			errc <- fmt.Errorf("unshare fs: %w", err)
			return
		}
		if err := unix.Chdir(dir); err != nil {
			errc <- err
			return
		}
		errc <- unix.Mount("overlay", target, "overlay", 0, opts)
	}()
	return <-errc
}
