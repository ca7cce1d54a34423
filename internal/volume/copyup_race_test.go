package volume

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// A container sharing a still-empty volume swaps each directory the
// copy-up creates for a symlink to a host directory, as fast as it can.
// Copy-up may fail, but it must never write outside the volume.
func TestCopyUpRacingSymlinkSwap(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	rootfs := t.TempDir()
	host := t.TempDir() // stands for /etc on the host
	const n = 150
	for i := 0; i < n; i++ {
		d := filepath.Join(rootfs, "data", fmt.Sprintf("d%03d", i), "sub")
		must(t, os.MkdirAll(d, 0o755))
		must(t, os.WriteFile(filepath.Join(d, "f"), []byte("payload"), 0o644))
		must(t, os.WriteFile(filepath.Join(filepath.Dir(d), "g"), []byte("payload"), 0o644))
	}
	for round := 0; round < 5; round++ {
		v, err := s.Create(ctx, "", "", nil, nil)
		must(t, err)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				for i := 0; i < n; i++ {
					p := filepath.Join(v.Mountpoint, fmt.Sprintf("d%03d", i))
					if fi, err := os.Lstat(p); err == nil && fi.IsDir() {
						if os.Rename(p, filepath.Join(v.Mountpoint, fmt.Sprintf(".old-%d-%d", i, k))) == nil {
							os.Symlink(host, p)
						}
					}
				}
			}
		}()
		s.CopyUp(ctx, v.Name, rootfs, "/data") // an error is fine; escaping is not
		close(stop)
		wg.Wait()
		if ents, _ := os.ReadDir(host); len(ents) > 0 {
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			t.Fatalf("round %d: copy-up wrote outside the volume: %v", round, names)
		}
	}
}
