package builder

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sync"
	"syscall"
	"time"
)

// Context files from deferMin bytes up keep their content in memory, up to
// deferMax per build, instead of being written out as they arrive.
const (
	deferMin = 1 << 20
	deferMax = 512 << 20
)

// deferredContent holds the content of the large context files that were
// unpacked sparse: at their full size, with their names, modes and times,
// but no data. A COPY's cache key needs only that and the content hashes
// taken while the context streamed in, so a fully cached build never
// writes (nor later deletes) the bulk of its context; that was most of the
// time of a cached rebuild with a large context. Steps that read context
// files call materialize first.
type deferredContent struct {
	root      string   // the context dir
	buildFile []string // never deferred: read from disk while preparing
	mu        sync.Mutex
	files     map[string]*deferredFile
	total     int64
	done      bool
	err       error
}

type deferredFile struct {
	n        int64  // its size
	ino, dev uint64 // the sparse file made for this entry
	chunks   []*[]byte
}

func newDeferredContent(root, dockerfile string) *deferredContent {
	df := path.Clean(dockerfile)
	return &deferredContent{root: root, files: map[string]*deferredFile{},
		buildFile: []string{df, df + ".dockerignore", ".dockerignore"}}
}

// take is asked about every regular file of the context once it exists on
// disk (empty); it returns the entry that keeps the file's content, or nil
// when the content is to be written out as usual.
func (d *deferredContent) take(r *os.Root, name string, size int64) *deferredFile {
	d.mu.Lock()
	defer d.mu.Unlock()
	// A later entry of the same name replaces the earlier file. Its
	// chunks may still be on their way from the hashing goroutine, so
	// they are left to the garbage collector rather than reused.
	if old, ok := d.files[name]; ok {
		d.total -= old.n
		delete(d.files, name)
	}
	if size < deferMin || d.total+size > deferMax {
		return nil
	}
	for _, b := range d.buildFile {
		if name == b {
			return nil
		}
	}
	fi, err := r.Lstat(name)
	if err != nil {
		return nil
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	f := &deferredFile{n: size, ino: st.Ino, dev: uint64(st.Dev)}
	d.files[name] = f
	d.total += size
	return f
}

// materialize writes the content of every deferred file that is still the
// file it was made for (not removed by .dockerignore, not replaced by a
// later entry), keeping its times. It runs once; later calls return its
// result.
func (d *deferredContent) materialize() error {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.done {
		return d.err
	}
	d.done = true
	if len(d.files) == 0 {
		return nil
	}
	r, err := os.OpenRoot(d.root)
	if err != nil {
		d.err = fmt.Errorf("build context: %w", err)
		return d.err
	}
	defer r.Close()
	for name, f := range d.files {
		if err := f.writeTo(r, name); err != nil {
			d.err = fmt.Errorf("build context: %s: %w", name, err)
			break
		}
	}
	d.releaseLocked()
	return d.err
}

// release drops the kept content (the build is over).
func (d *deferredContent) release() {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.releaseLocked()
}

func (d *deferredContent) releaseLocked() {
	for _, f := range d.files {
		f.release()
	}
	d.files, d.total = map[string]*deferredFile{}, 0
}

func (f *deferredFile) release() {
	for _, c := range f.chunks {
		chunkPool.Put(c)
	}
	f.chunks = nil
}

func (f *deferredFile) writeTo(r *os.Root, name string) error {
	fi, err := r.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // excluded by .dockerignore
	}
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || !fi.Mode().IsRegular() || st.Ino != f.ino || uint64(st.Dev) != f.dev {
		return nil // another entry took the name
	}
	out, err := r.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	for _, c := range f.chunks {
		if _, err = out.Write(*c); err != nil {
			break
		}
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	// Writing moved the times the context gave the file; COPY keeps them.
	return r.Chtimes(name, time.Unix(st.Atim.Unix()), fi.ModTime())
}
