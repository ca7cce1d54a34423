package distribution

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sync"

	"github.com/berth-project/berth/internal/atomicfile"
	digest "github.com/opencontainers/go-digest"
)

// maxSources bounds what is remembered per layer.
const maxSources = 8

// blobSource says that registry repository Repo ("host/path") holds the
// compressed form Digest (Size bytes) of a layer.
type blobSource struct {
	Digest digest.Digest `json:"digest"`
	Size   int64         `json:"size"`
	Repo   string        `json:"repo"`
}

// blobInfo remembers, per uncompressed layer, the compressed blobs pulls
// fetched and pushes uploaded. A push uses it to skip a layer the target
// repository already has ("Layer already exists") or mount it from another
// repository of the same registry ("Mounted from"); without it a push would
// have to compress a layer just to learn its digest. This is dockerd's
// v2metadata-by-diffid.
//
// On disk: <dir>/<diffID hex>.json, a JSON array of blobSource, newest
// first, written atomically. A nil *blobInfo remembers nothing.
type blobInfo struct {
	dir string
	mu  sync.Mutex
}

func (b *blobInfo) path(diffID digest.Digest) string {
	return filepath.Join(b.dir, diffID.Encoded()+".json")
}

// get returns what is known about diffID, newest first.
func (b *blobInfo) get(diffID digest.Digest) []blobSource {
	if b == nil || diffID.Validate() != nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.readLocked(diffID)
}

func (b *blobInfo) readLocked(diffID digest.Digest) []blobSource {
	raw, err := os.ReadFile(b.path(diffID))
	if err != nil {
		return nil
	}
	var out []blobSource
	if json.Unmarshal(raw, &out) != nil {
		return nil
	}
	return out
}

// add records src for diffID. Failures only cost a later push its
// shortcut, so they are not reported.
func (b *blobInfo) add(diffID digest.Digest, src blobSource) {
	if b == nil || diffID.Validate() != nil || src.Digest.Validate() != nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	list := []blobSource{src}
	for _, s := range b.readLocked(diffID) {
		if (s.Digest != src.Digest || s.Repo != src.Repo) && len(list) < maxSources {
			list = append(list, s)
		}
	}
	raw, err := json.Marshal(list)
	if err != nil {
		return
	}
	if err := os.MkdirAll(b.dir, 0o700); err != nil {
		return
	}
	// No fsync: the record is a hint (a lost one costs a later push its
	// shortcut, a torn one reads as none), and two fsyncs per layer held
	// each pulled layer's download slot for tens of milliseconds.
	_ = atomicfile.WriteNoSync(b.path(diffID), raw, 0o600)
}
