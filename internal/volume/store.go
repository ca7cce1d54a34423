// Package volume is the local volume driver: named and anonymous volumes
// under <data-root>/volumes/<name>/_data, each with a metadata file, and the
// references containers hold on them.
//
// References are kept in memory only: the daemon rebuilds them from its
// container records at start (Acquire for every container), the way dockerd
// does, so a crash can never leave a volume pinned by a stale count.
package volume

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/berth-project/berth/internal/atomicfile"
	"github.com/berth-project/berth/internal/errdefs"
)

// LocalDriver is the only driver Berth has.
const LocalDriver = "local"

// AnonymousLabel marks volumes created without a name (docker run -v /path,
// image VOLUME); prune and rm -v only touch those by default.
const AnonymousLabel = "com.docker.volume.anonymous"

const metaFile = "berth-volume.json"

// Volume is one volume's persisted record plus where it lives on the host.
type Volume struct {
	Name      string
	Driver    string
	Labels    map[string]string
	Options   map[string]string
	CreatedAt time.Time
	// CreatedFor is the container whose create made this anonymous
	// volume. A create cut short by a crash leaves no container record;
	// the daemon then removes what that create made, this volume included
	// (OwnedBy). It is never shown through the API.
	CreatedFor string `json:",omitempty"`
	Mountpoint string `json:"-"`
}

// Anonymous reports whether the volume was created without a name.
func (v *Volume) Anonymous() bool {
	_, ok := v.Labels[AnonymousLabel]
	return ok
}

type entry struct {
	v       Volume
	refs    map[string]bool // container IDs using the volume
	active  map[string]bool // container IDs that have it mounted (driver options)
	mounted bool
}

// Store holds every local volume.
type Store struct {
	root string
	mu   sync.Mutex
	vols map[string]*entry
}

// New opens (creating if needed) the store at root, usually
// <data-root>/volumes, and loads every volume found there.
func New(ctx context.Context, root string) (*Store, error) {
	if err := os.MkdirAll(root, 0o701); err != nil {
		return nil, fmt.Errorf("create volume root: %w", err)
	}
	s := &Store{root: root, vols: map[string]*entry{}}
	des, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("read volume root: %w", err)
	}
	mounted := mountedPaths()
	for _, de := range des {
		if !de.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, de.Name(), metaFile))
		if err != nil {
			continue // not a volume of ours (or half-created): ignore it
		}
		var v Volume
		if err := json.Unmarshal(b, &v); err != nil || v.Name != de.Name() {
			continue
		}
		v.Mountpoint = s.dataPath(v.Name)
		s.vols[v.Name] = &entry{v: v, refs: map[string]bool{}, active: map[string]bool{}, mounted: mounted[v.Mountpoint]}
	}
	return s, nil
}

func (s *Store) dataPath(name string) string { return filepath.Join(s.root, name, "_data") }

// ValidName is the local driver's rule for volume names.
func ValidName(n string) bool {
	if len(n) < 2 {
		return false
	}
	for i, c := range n {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || (c != '_' && c != '.' && c != '-')) {
			return false
		}
	}
	return true
}

func noSuchVolume(name string) error {
	return errdefs.NotFoundf("get %s: no such volume", name)
}

// Create makes a volume, or returns the existing one of that name as dockerd
// does. An empty name makes an anonymous volume with a random 64-hex name.
func (s *Store) Create(ctx context.Context, name, driver string, opts, labels map[string]string) (*Volume, error) {
	return s.CreateFor(ctx, "", name, driver, opts, labels)
}

// CreateFor is Create for container owner's create: an anonymous volume
// records its owner in the same write that makes it, so no crash can leave
// it unowned.
func (s *Store) CreateFor(ctx context.Context, owner, name, driver string, opts, labels map[string]string) (*Volume, error) {
	if driver == "" {
		driver = LocalDriver
	}
	if driver != LocalDriver {
		return nil, errdefs.NotFoundf("error looking up volume plugin %s: plugin %q not found", driver, driver)
	}
	lbls := map[string]string{}
	for k, v := range labels {
		lbls[k] = v
	}
	if name == "" {
		b := make([]byte, 32)
		rand.Read(b)
		name = hex.EncodeToString(b)
		lbls[AnonymousLabel] = ""
	}
	if !ValidName(name) {
		return nil, errdefs.Invalidf("create %s: %q includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path", name, name)
	}
	if err := validateOpts(opts); err != nil {
		return nil, errdefs.Invalid(fmt.Errorf("create %s: %w", name, err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.vols[name]; ok {
		v := e.v
		return &v, nil
	}
	v := Volume{Name: name, Driver: driver, Labels: lbls, Options: opts, CreatedAt: time.Now().Truncate(time.Second), Mountpoint: s.dataPath(name)}
	if _, anon := lbls[AnonymousLabel]; anon {
		v.CreatedFor = owner
	}
	if len(v.Options) == 0 {
		v.Options = nil
	}
	if err := s.write(&v); err != nil {
		os.RemoveAll(filepath.Join(s.root, name))
		return nil, err
	}
	s.vols[name] = &entry{v: v, refs: map[string]bool{}, active: map[string]bool{}}
	return &v, nil
}

func (s *Store) write(v *Volume) error {
	if err := os.MkdirAll(v.Mountpoint, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", v.Name, err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(s.root, v.Name, metaFile), b, 0o600)
}

// Get returns a volume by name.
func (s *Store) Get(ctx context.Context, name string) (*Volume, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.vols[name]
	if !ok {
		return nil, noSuchVolume(name)
	}
	v := e.v
	return &v, nil
}

// OwnedBy lists the anonymous volumes that container owner's create made.
func (s *Store) OwnedBy(owner string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for name, e := range s.vols {
		if owner != "" && e.v.CreatedFor == owner {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// RefCount is the number of containers holding name (-1 if it is unknown).
func (s *Store) RefCount(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.vols[name]
	if !ok {
		return -1
	}
	return len(e.refs)
}

// Acquire records that container ref uses the volume.
func (s *Store) Acquire(name, ref string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.vols[name]
	if !ok {
		return noSuchVolume(name)
	}
	e.refs[ref] = true
	return nil
}

// Release drops container ref's use of the volume (and its mount, if any).
func (s *Store) Release(ctx context.Context, name, ref string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.vols[name]
	if !ok {
		return nil
	}
	delete(e.refs, ref)
	return s.unmountLocked(e, ref)
}

// Remove deletes a volume no container uses. force ignores a missing one.
func (s *Store) Remove(ctx context.Context, name string, force bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.vols[name]
	if !ok {
		if force {
			return nil
		}
		return noSuchVolume(name)
	}
	return s.removeLocked(e)
}

func (s *Store) removeLocked(e *entry) error {
	if len(e.refs) > 0 {
		ids := make([]string, 0, len(e.refs))
		for id := range e.refs {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		return errdefs.Conflictf("remove %s: volume is in use - [%s]", e.v.Name, strings.Join(ids, ", "))
	}
	if e.mounted {
		if err := unmount(e.v.Mountpoint); err != nil {
			return fmt.Errorf("remove %s: %w", e.v.Name, err)
		}
		e.mounted = false
	}
	dir := filepath.Join(s.root, e.v.Name)
	// Drop the metadata first: a crash midway leaves a directory New ignores
	// rather than a volume with half its data.
	if err := os.Remove(filepath.Join(dir, metaFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", e.v.Name, err)
	}
	delete(s.vols, e.v.Name)
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove %s: %w", e.v.Name, err)
	}
	return nil
}

// Filter is a volume predicate built by ListFilter or PruneFilter.
type Filter func(v *Volume, refs int) bool

// List returns the volumes match accepts (all when match is nil), by name.
func (s *Store) List(ctx context.Context, match Filter) []*Volume {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Volume
	for _, e := range s.vols {
		if match != nil && !match(&e.v, len(e.refs)) {
			continue
		}
		v := e.v
		out = append(out, &v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Prune removes every unused volume match accepts and returns the names
// removed and the bytes they held.
func (s *Store) Prune(ctx context.Context, match Filter) ([]string, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	var reclaimed uint64
	for _, e := range s.vols {
		if len(e.refs) > 0 || (match != nil && !match(&e.v, 0)) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return names, reclaimed, err
		}
		size, _ := dirSize(e.v.Mountpoint)
		if err := s.removeLocked(e); err != nil {
			return names, reclaimed, err
		}
		names = append(names, e.v.Name)
		reclaimed += uint64(size)
	}
	sort.Strings(names)
	return names, reclaimed, nil
}

// Size is the bytes of file data in the volume (for system df).
func (s *Store) Size(ctx context.Context, name string) (int64, error) {
	v, err := s.Get(ctx, name)
	if err != nil {
		return 0, err
	}
	return dirSize(v.Mountpoint)
}

// dirSize sums regular file sizes, counting hard-linked files once.
func dirSize(dir string) (int64, error) {
	var total int64
	seen := map[uint64]bool{}
	err := filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return nil // racing deletes are not an error for a size
		}
		if !de.Type().IsRegular() {
			return nil
		}
		fi, err := de.Info()
		if err != nil {
			return nil
		}
		if ino, nlink := inodeOf(fi); nlink > 1 {
			if seen[ino] {
				return nil
			}
			seen[ino] = true
		}
		total += fi.Size()
		return nil
	})
	return total, err
}
