package builder

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/berth-project/berth/internal/atomicfile"
	digest "github.com/opencontainers/go-digest"
)

// Cache is the layer cache: a step's key (parent image, instruction as
// expanded, build args it sees, checksums of the files it copies) maps to
// the image the step made. It lives in one JSON file written atomically
// after each build, so it survives daemon restarts; an entry whose image
// is gone is a miss.
type Cache struct {
	path    string
	mu      sync.Mutex
	entries map[string]cacheEntry
	dirty   bool // an entry was added or removed: save durably
	touched bool // only usage counters changed: a lost update is harmless
}

type cacheEntry struct {
	Image       digest.Digest `json:"image"`
	Description string        `json:"description"`
	Size        int64         `json:"size"`  // bytes of the layer the step added
	Layer       bool          `json:"layer"` // the step added a layer
	Created     time.Time     `json:"created"`
	LastUsed    time.Time     `json:"lastUsed,omitzero"`
	UsageCount  int           `json:"usageCount"`
}

// CacheRecord is one cache entry as system df and builder prune see it.
type CacheRecord struct {
	ID          string
	Image       digest.Digest
	Description string
	Size        int64
	Created     time.Time
	LastUsed    time.Time
	UsageCount  int
}

func openCache(path string) (*Cache, error) {
	c := &Cache{path: path, entries: map[string]cacheEntry{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("build cache: %w", err)
	}
	if err := json.Unmarshal(b, &c.entries); err != nil {
		// A damaged cache costs a rebuild, not the daemon.
		c.entries = map[string]cacheEntry{}
	}
	return c, nil
}

func (c *Cache) get(key string) (digest.Digest, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	return e.Image, ok
}

func (c *Cache) used(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key]; ok {
		e.LastUsed = time.Now().UTC()
		e.UsageCount++
		c.entries[key] = e
		c.touched = true
	}
}

func (c *Cache) put(key string, e cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.Created = time.Now().UTC()
	e.UsageCount = 1
	e.LastUsed = e.Created
	c.entries[key] = e
	c.dirty = true
}

func (c *Cache) save() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.dirty && !c.touched {
		return nil
	}
	b, err := json.Marshal(c.entries)
	if err != nil {
		return err
	}
	if c.dirty {
		err = atomicfile.Write(c.path, b, 0o600)
	} else {
		// Usage counters only: replace atomically, skip the fsyncs a
		// cached rebuild would otherwise wait for.
		tmp := c.path + ".tmp"
		if err = os.WriteFile(tmp, b, 0o600); err == nil {
			err = os.Rename(tmp, c.path)
		}
	}
	if err != nil {
		return err
	}
	c.dirty, c.touched = false, false
	return nil
}

// Records lists the entries whose image exists (has reports that).
func (c *Cache) Records(has func(digest.Digest) bool) []CacheRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []CacheRecord
	for k, e := range c.entries {
		if !has(e.Image) {
			continue
		}
		out = append(out, CacheRecord{ID: k[:25], Image: e.Image, Description: e.Description,
			Size: e.Size, Created: e.Created, LastUsed: e.LastUsed, UsageCount: e.UsageCount})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out
}

// Remove drops the entries for which drop returns true and saves.
func (c *Cache) Remove(drop func(CacheRecord) bool) error {
	c.mu.Lock()
	for k, e := range c.entries {
		r := CacheRecord{ID: k[:25], Image: e.Image, Description: e.Description, Size: e.Size,
			Created: e.Created, LastUsed: e.LastUsed, UsageCount: e.UsageCount}
		if drop(r) {
			delete(c.entries, k)
			c.dirty = true
		}
	}
	c.mu.Unlock()
	return c.save()
}
