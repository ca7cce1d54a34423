package image

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/atomicfile"
	digest "github.com/opencontainers/go-digest"
)

// partialTTL is how long the layers of an unfinished pull are kept for
// the next pull to resume from.
const partialTTL = 24 * time.Hour

// The layers a pull has downloaded and verified but no image uses yet
// survive garbage collection for partialTTL, so an interrupted pull
// resumes from them ("Already exists") instead of starting over. They are
// listed in image/partial.json: layer diff ID (a blob) or chain ID (an
// unpacked layer) → when it was stored.
//
// The list is written without fsync: a layer it names is itself not
// durable until the syncfs of the pull that finishes the image (one sync
// per image, see Ingest.sync), so syncing the list alone would promise
// what the disk may not hold, and each fsync waited for the journal to
// commit the other layers' data being written at the same time (up to a
// fifth of a 200 MB pull). A daemon crash loses nothing (the page cache
// outlives it); after a machine crash the layers may be torn, so entries
// older than this boot are not trusted and the next pull fetches them
// again.

func (s *Store) partialPath() string { return filepath.Join(s.root, "image", "partial.json") }

// loadPartial reads the list; a missing or damaged file means none.
func (s *Store) loadPartial() {
	s.partial = map[digest.Digest]time.Time{}
	b, err := os.ReadFile(s.partialPath())
	if err != nil {
		return
	}
	json.Unmarshal(b, &s.partial)
	if boot, ok := bootTime(); ok {
		for d, t := range s.partial {
			if t.Before(boot) {
				delete(s.partial, d)
			}
		}
	}
}

// bootTime is when the machine booted (btime in /proc/stat).
func bootTime() (time.Time, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}, false
			}
			return time.Unix(n, 0), true
		}
	}
	return time.Time{}, false
}

// savePartialLocked writes the list. s.mu is held.
func (s *Store) savePartialLocked() {
	if len(s.partial) == 0 {
		os.Remove(s.partialPath())
		return
	}
	b, err := json.Marshal(s.partial)
	if err == nil {
		atomicfile.WriteNoSync(s.partialPath(), b, 0o600)
	}
}

// keepPartial records a layer an unfinished pull has stored.
func (s *Store) keepPartial(d digest.Digest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partial[d] = time.Now()
	s.savePartialLocked()
}

// partialInUseLocked adds the layers still worth keeping to the used
// chains and blobs (a kept layer is a blob named by its diff ID or, pulled
// since layers are kept unpacked only, a layer named by its chain ID) and
// forgets expired ones and those an image now uses. s.mu is held.
func (s *Store) partialInUseLocked(usedChains, usedBlobs map[digest.Digest]bool) {
	changed := false
	for d, t := range s.partial {
		if usedChains[d] || usedBlobs[d] || time.Since(t) > partialTTL {
			delete(s.partial, d)
			changed = true
			continue
		}
		usedChains[d], usedBlobs[d] = true, true
	}
	if changed {
		s.savePartialLocked()
	}
}

// dropPartialLocked lets GC take every kept layer (prune). s.mu is held.
func (s *Store) dropPartialLocked() {
	if len(s.partial) > 0 {
		s.partial = map[digest.Digest]time.Time{}
		s.savePartialLocked()
	}
}
