package image

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image/content"
	"github.com/berth-project/berth/internal/image/layer"
	"github.com/berth-project/berth/internal/imageref"
	"github.com/moby/go-archive/compression"
	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"
)

// spooled is an archive read into a private temp dir: regular files are
// stored under numbered names (never under archive-supplied paths) and
// symlinks are resolved inside the archive only.
type spooled struct {
	dir   string
	files map[string]string // clean archive path → temp file
	links map[string]string // clean archive path → clean target path
	dirs  map[string]bool   // top-level directories of the archive
}

func (s *Store) spool(ctx context.Context, r io.Reader) (*spooled, error) {
	tmp := filepath.Join(s.root, "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	// Named as dockerd names its own, as its errors show the path.
	dir, err := os.MkdirTemp(tmp, "docker-import-")
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	sp := &spooled{dir: dir, files: map[string]string{}, links: map[string]string{}, dirs: map[string]bool{}}
	if err := sp.read(ctx, r); err != nil {
		sp.close()
		return nil, err
	}
	return sp, nil
}

func (sp *spooled) read(ctx context.Context, r io.Reader) error {
	// A stream that is no tar fails with the tar reader's own words, as
	// dockerd's untar does ("unexpected EOF", "archive/tar: invalid tar header").
	dec, err := compression.DecompressStream(r)
	if err != nil {
		return errdefs.Invalid(err)
	}
	defer dec.Close()
	tr := tar.NewReader(dec)
	chk := newPathChecker()
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return errdefs.Invalid(err)
		}
		if err := chk.check(hdr); err != nil {
			return err
		}
		name := path.Clean(hdr.Name)
		if top, _, nested := strings.Cut(name, "/"); nested || hdr.Typeflag == tar.TypeDir && top != "." {
			sp.dirs[top] = true
		}
		switch hdr.Typeflag {
		case tar.TypeReg:
			p := filepath.Join(sp.dir, strconv.Itoa(n))
			if err := writeFile(ctx, p, tr); err != nil {
				return err
			}
			sp.files[name] = p
		case tar.TypeSymlink, tar.TypeLink:
			target := hdr.Linkname
			if hdr.Typeflag == tar.TypeSymlink {
				if path.IsAbs(target) {
					return errdefs.Invalidf("invalid archive: symlink %q points outside the archive", hdr.Name)
				}
				target = path.Join(path.Dir(name), target)
			}
			target = path.Clean(target)
			if target == ".." || len(target) > 2 && target[:3] == "../" {
				return errdefs.Invalidf("invalid archive: link %q points outside the archive", hdr.Name)
			}
			sp.links[name] = target
		}
	}
}

func writeFile(ctx context.Context, p string, r io.Reader) error {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	_, err = io.Copy(f, ctxReader{ctx, r})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	return nil
}

// open opens the archive file at name, following links within the archive.
func (sp *spooled) open(name string) (*os.File, error) {
	name = path.Clean(name)
	for i := 0; i < 16; i++ {
		if p, ok := sp.files[name]; ok {
			return os.Open(p)
		}
		t, ok := sp.links[name]
		if !ok {
			break
		}
		name = t
	}
	return nil, sp.missing(name)
}

// missing is the error of a file the archive lacks, in the words of the
// open(2) dockerd makes in its unpacked copy.
func (sp *spooled) missing(name string) error {
	return errdefs.Invalid(&fs.PathError{Op: "open", Path: filepath.Join(sp.dir, name), Err: syscall.ENOENT})
}

func (sp *spooled) close() { os.RemoveAll(sp.dir) }

// Load imports a docker-archive written by `docker save`: the legacy
// layout of dockerd 20.10 and the OCI-based one of docker 25+ both carry
// manifest.json, which is what is read; a plain OCI layout without it is
// read through index.json. Each image is loaded all or
// nothing; report gets "Loaded image: name:tag" or "Loaded image ID: id".
func (s *Store) Load(ctx context.Context, r io.Reader, report func(msg string)) error {
	sp, err := s.spool(ctx, r)
	if err != nil {
		return err
	}
	defer sp.close()
	var items []manifestItem
	switch {
	case sp.has("manifest.json"):
		items, err = sp.manifest()
	case sp.has("index.json"):
		items, err = sp.ociItems()
	default:
		err = sp.legacy()
	}
	if err != nil {
		return err
	}
	for _, it := range items {
		if err := s.loadOne(ctx, sp, it, report); err != nil {
			return err
		}
	}
	return nil
}

func (sp *spooled) has(name string) bool {
	_, file := sp.files[name]
	_, link := sp.links[name]
	return file || link
}

// manifest reads manifest.json; its errors are dockerd's (the JSON
// decoder's own, and null refused).
func (sp *spooled) manifest() ([]manifestItem, error) {
	f, err := sp.open("manifest.json")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var items []manifestItem
	if err := json.NewDecoder(f).Decode(&items); err != nil {
		return nil, errdefs.Invalid(err)
	}
	if items == nil {
		return nil, errdefs.Invalidf("invalid manifest, manifest cannot be null (but can be [])")
	}
	return items, nil
}

// legacy answers an archive with neither manifest.json nor index.json.
// dockerd then takes it for the layout of Docker before 1.10 (a directory
// per layer with its json, a repositories file) and fails on the first
// file of it that is missing; that layout is not loaded here, but its
// errors for what is no image at all (an empty stream, any other tar) are
// dockerd's.
func (sp *spooled) legacy() error {
	dirs := make([]string, 0, len(sp.dirs))
	for d := range sp.dirs {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, d := range dirs {
		if !sp.has(path.Join(d, "json")) {
			return sp.missing(path.Join(d, "json"))
		}
	}
	if len(dirs) == 0 || !sp.has("repositories") {
		return sp.missing("repositories")
	}
	return errdefs.NotImplemented(errors.New("loading images saved by Docker before 1.10 is not supported"))
}

func (s *Store) loadOne(ctx context.Context, sp *spooled, it manifestItem, report func(string)) error {
	for _, t := range it.RepoTags {
		if _, err := imageref.NormalizeTag(t); err != nil {
			return err
		}
	}
	cf, err := sp.open(it.Config)
	if err != nil {
		return err
	}
	raw, err := io.ReadAll(cf)
	cf.Close()
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	img, err := parseConfig(digest.FromBytes(raw), raw)
	if err != nil {
		return err
	}
	if len(img.Layers) != len(it.Layers) {
		return errdefs.Invalidf("invalid manifest, layers length mismatch: expected %d, got %d", len(it.Layers), len(img.Layers))
	}
	// Each layer goes to its blob and its layer directory in one pass, all
	// layers at once, as a pull's do; Close drops whatever a failed load
	// left (a no-op otherwise).
	in := s.NewIngest()
	defer in.Close(context.WithoutCancel(ctx))
	chains := layer.ChainIDs(img.Layers)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(loadParallel)
	for i, l := range it.Layers {
		g.Go(func() error { return s.loadLayer(gctx, in, sp, i, l, img.Layers[i], chains[i]) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	loaded, err := s.register(ctx, raw, "")
	if err != nil {
		return err
	}
	for _, t := range it.RepoTags {
		if old, err := s.Resolve(ctx, t); err == nil && old.ID != loaded.ID && !isIDPrefix(old.ID, t) {
			report(fmt.Sprintf("The image %s already exists, renaming the old one with ID %s to empty string", t, old.ID))
		}
		if err := s.Tag(ctx, loaded.ID, t); err != nil {
			return err
		}
		if n, err := normalize(t); err == nil {
			t = familiar(n)
		}
		report("Loaded image: " + t)
	}
	if len(it.RepoTags) == 0 {
		report("Loaded image ID: " + loaded.ID.String())
	}
	return nil
}

// loadParallel is how many layers of an image load at once.
const loadParallel = 4

// loadLayer stores layer i of an image. Its errors are dockerd's: a layer
// the archive lacks is a failed open (unless the store has it already: dockerd
// never reads the file then), a broken tar the tar reader's words, other
// content than the config's diff ID "invalid diffID".
func (s *Store) loadLayer(ctx context.Context, in *Ingest, sp *spooled, i int, name string, diffID, chain digest.Digest) error {
	var src io.Reader
	f, err := sp.open(name)
	switch {
	case err == nil:
		defer f.Close()
		dec, err := compression.DecompressStream(f)
		if err != nil {
			return errdefs.Invalid(err)
		}
		defer dec.Close()
		src = dec
	case s.content.Has(diffID):
		src = strings.NewReader("") // not read: ingestLayer takes the stored blob
	default:
		return err
	}
	err = in.layerAt(ctx, src, diffID, chain, func() error { return nil }, in.ingest)
	var te *tarError
	var me *content.MismatchError
	switch {
	case errors.As(err, &te):
		return errdefs.Invalid(te.err)
	case errors.As(err, &me):
		return errdefs.Invalidf("invalid diffID for layer %d: expected %q, got %q", i, me.Expected, me.Got)
	case err != nil:
		return fmt.Errorf("layer %s: %w", name, err)
	}
	return nil
}

// gc drops unused blobs and layers.
func (s *Store) gc(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gcLocked(ctx)
}
