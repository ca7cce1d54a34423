package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/image/content"
	"github.com/berth-project/berth/internal/image/layer"
	"github.com/berth-project/berth/internal/imageref"
	"github.com/moby/go-archive/compression"
	digest "github.com/opencontainers/go-digest"
)

// An archive to load is read once, as it streams in. What looks like a
// layer (a tar, or gzip, zstd, bzip2 or xz data) is unpacked into a
// private directory as it arrives, its digests taken on the way (the
// entry's bytes as stored, and the uncompressed tar: the diff ID), so a
// layer is written once, to its files. Small files (manifest.json,
// index.json, configs) are kept in memory; anything else is spooled to a
// temp file under numbered names (never archive-supplied paths). Only once
// the whole archive is read, manifest.json (which docker save writes after
// the layers) says which entries are which image's layers; a layer
// becomes visible under its chain ID only after its diff ID matches the
// config and, for an OCI blob, its bytes match the digest it is named by.
type streamed struct {
	s        *Store
	dir      string            // spooled files; made on first use
	small    map[string][]byte // clean archive path → bytes
	smallLen int64
	files    map[string]string // clean archive path → spooled temp file
	layers   map[string]*arrived
	links    map[string]string // clean archive path → clean target path
	dirs     map[string]bool   // top-level directories of the archive
}

// arrived is an archive entry unpacked as a layer as it streamed in.
type arrived struct {
	p      *layer.Pending // nil once committed
	chain  digest.Digest  // what it was committed as
	diffID digest.Digest  // the uncompressed tar's digest
	blob   digest.Digest  // the entry's bytes' digest
	err    error          // it did not unpack: an error only if an image uses it
}

const (
	smallFile  = 1 << 20  // largest non-layer entry kept in memory
	smallTotal = 64 << 20 // and all of them together
)

func (s *Store) readArchive(ctx context.Context, r io.Reader) (*streamed, error) {
	st := &streamed{s: s, small: map[string][]byte{}, files: map[string]string{},
		layers: map[string]*arrived{}, links: map[string]string{}, dirs: map[string]bool{}}
	tmp := filepath.Join(s.root, "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	// Named as dockerd names its own, as its errors show the path.
	dir, err := os.MkdirTemp(tmp, "docker-import-")
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	st.dir = dir
	if err := st.read(ctx, r); err != nil {
		st.close()
		return nil, err
	}
	return st, nil
}

func (st *streamed) read(ctx context.Context, r io.Reader) error {
	// A stream that is no tar fails with the tar reader's own words, as
	// dockerd's untar does ("unexpected EOF", "archive/tar: invalid tar header").
	dec, err := layer.Decompress(r)
	if err != nil {
		return errdefs.Invalid(err)
	}
	defer dec.Close()
	tr := tar.NewReader(dec)
	chk := newPathChecker()
	br := bufio.NewReaderSize(nil, 64<<10)
	for n := 0; ; n++ {
		if err := ctx.Err(); err != nil {
			return err
		}
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
			st.dirs[top] = true
		}
		switch hdr.Typeflag {
		case tar.TypeReg:
			br.Reset(tr)
			head, _ := br.Peek(512)
			switch {
			case looksLikeLayer(head, hdr.Size):
				compressed := compression.Detect(head) != compression.None
				if err := st.unpackLayer(ctx, name, br, compressed); err != nil {
					return err
				}
			case hdr.Size <= smallFile && st.smallLen+hdr.Size <= smallTotal:
				b, err := io.ReadAll(br)
				if err != nil {
					return errdefs.Invalid(err)
				}
				st.small[name] = b
				st.smallLen += int64(len(b))
			default:
				if err := st.spool(ctx, name, n, br); err != nil {
					return err
				}
			}
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
			st.links[name] = target
		}
	}
}

// looksLikeLayer says whether an entry starting with head (its first 512
// bytes or all of it) is a layer: compressed data, a tar header, or the
// zero blocks of an empty tar.
func looksLikeLayer(head []byte, size int64) bool {
	if compression.Detect(head) != compression.None {
		return true
	}
	if len(head) >= 263 && string(head[257:262]) == "ustar" {
		return true
	}
	if size < 1024 || len(head) < 512 {
		return false
	}
	for _, b := range head {
		if b != 0 {
			return false
		}
	}
	return true
}

// unpackLayer unpacks the entry name, read from r, into a private layer
// directory and notes its digests. A layer that fails to unpack is an
// error only for an image that uses it, unless the host failed.
//
// An uncompressed entry (what docker save writes) is its own tar: its
// digest is the diff ID the unpack takes anyway, so it is hashed once.
// SHA-256 was half of a load's CPU time, the second pass a quarter.
func (st *streamed) unpackLayer(ctx context.Context, name string, r io.Reader, compressed bool) error {
	a := &arrived{}
	st.layers[name] = a
	var blob digest.Digester
	var hash *layer.AsyncWriter
	src := r
	if compressed {
		blob = digest.Canonical.Digester()
		hash = layer.NewAsyncWriter(blob.Hash(), 1<<20)
		defer hash.Close()
		src = io.TeeReader(r, hash)
	}
	dec, err := layer.Decompress(src)
	if err != nil {
		a.err = errdefs.Invalid(err)
	} else {
		a.p, a.diffID, _, a.err = st.s.layers.UnpackRecorded(ctx, "", dec, newPathChecker().check)
		dec.Close()
	}
	// The rest of the entry (a compressed stream's trailer) belongs to its
	// digest. (The unpack of a plain tar read it all: its diff ID covers
	// whatever follows the end marker.)
	n, err := io.Copy(io.Discard, src)
	if err != nil {
		if a.p != nil {
			a.p.Abort()
		}
		return errdefs.Invalid(err)
	}
	switch {
	case compressed:
		if err := hash.Close(); err != nil {
			return err
		}
		a.blob = blob.Digest()
	case a.err == nil && n == 0:
		a.blob = a.diffID
	case a.err == nil: // cannot happen: the unpack read the entry to its end
		a.p.Abort()
		a.p, a.err = nil, errdefs.Invalidf("layer %s: %d bytes left after its tar", name, n)
	}
	if a.err != nil && !errdefs.IsInvalid(a.err) {
		return a.err // the host failed (disk full...), not the archive
	}
	return nil
}

func (st *streamed) spool(ctx context.Context, name string, n int, r io.Reader) error {
	p := filepath.Join(st.dir, strconv.Itoa(n))
	if err := writeFile(ctx, p, r); err != nil {
		return err
	}
	st.files[name] = p
	return nil
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

// resolve follows links within the archive to the entry name names.
func (st *streamed) resolve(name string) string {
	name = path.Clean(name)
	for i := 0; i < 16; i++ {
		t, ok := st.links[name]
		if !ok {
			break
		}
		name = t
	}
	return name
}

// has reports whether the archive holds a file name.
func (st *streamed) has(name string) bool {
	name = st.resolve(name)
	_, small := st.small[name]
	_, file := st.files[name]
	_, lay := st.layers[name]
	return small || file || lay
}

// open opens the archive file name (a small or spooled one).
func (st *streamed) open(name string) (io.ReadCloser, error) {
	name = st.resolve(name)
	if b, ok := st.small[name]; ok {
		return io.NopCloser(bytes.NewReader(b)), nil
	}
	if p, ok := st.files[name]; ok {
		return os.Open(p)
	}
	return nil, st.missing(name)
}

// missing is the error of a file the archive lacks, in the words of the
// open(2) dockerd makes in its unpacked copy.
func (st *streamed) missing(name string) error {
	return errdefs.Invalid(&fs.PathError{Op: "open", Path: filepath.Join(st.dir, name), Err: syscall.ENOENT})
}

// close throws away what no image took.
func (st *streamed) close() {
	for _, a := range st.layers {
		if a.p != nil {
			a.p.Abort()
		}
	}
	os.RemoveAll(st.dir)
}

// Load imports a docker-archive written by `docker save`: the legacy
// layout of dockerd 20.10 and the OCI-based one of docker 25+ both carry
// manifest.json, which is what is read; a plain OCI layout without it is
// read through index.json. Each image is loaded all or
// nothing; report gets "Loaded image: name:tag" or "Loaded image ID: id".
func (s *Store) Load(ctx context.Context, r io.Reader, report func(msg string)) error {
	st, err := s.readArchive(ctx, r)
	if err != nil {
		return err
	}
	defer st.close()
	var items []manifestItem
	switch {
	case st.has("manifest.json"):
		items, err = st.manifest()
	case st.has("index.json"):
		items, err = st.ociItems()
	default:
		return s.loadLegacy(ctx, st, report)
	}
	if err != nil {
		return err
	}
	for _, it := range items {
		if _, err := s.loadOne(ctx, st, it, "", true, report); err != nil {
			return err
		}
	}
	return nil
}

// manifest reads manifest.json; its errors are dockerd's (the JSON
// decoder's own, and null refused).
func (st *streamed) manifest() ([]manifestItem, error) {
	f, err := st.open("manifest.json")
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

// loadOne loads one image of the archive: its config, its layers, its
// tags, on parent (the legacy layout's parent image, "" for none).
// announce reports each "Loaded image"; the legacy layout's load reports
// only a tag taken from another image, as dockerd's does.
func (s *Store) loadOne(ctx context.Context, st *streamed, it manifestItem, parent digest.Digest, announce bool, report func(string)) (*Image, error) {
	for _, t := range it.RepoTags {
		if _, err := imageref.NormalizeTag(t); err != nil {
			return nil, err
		}
	}
	cf, err := st.open(it.Config)
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(cf)
	cf.Close()
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	img, err := parseConfig(digest.FromBytes(raw), raw)
	if err != nil {
		return nil, err
	}
	if len(img.Layers) != len(it.Layers) {
		return nil, errdefs.Invalidf("invalid manifest, layers length mismatch: expected %d, got %d", len(it.Layers), len(img.Layers))
	}
	// Close drops whatever a failed load left (a no-op otherwise).
	in := s.NewIngest()
	defer in.Close(context.WithoutCancel(ctx))
	chains := layer.ChainIDs(img.Layers)
	for i, l := range it.Layers {
		if err := s.loadLayer(ctx, in, st, i, l, img.Layers[i], chains[i]); err != nil {
			return nil, err
		}
	}
	if err := in.sync(); err != nil {
		return nil, err
	}
	loaded, err := s.register(ctx, raw, parent)
	if err != nil {
		return nil, err
	}
	for _, t := range it.RepoTags {
		if old, err := s.Resolve(ctx, t); err == nil && old.ID != loaded.ID && !isIDPrefix(old.ID, t) {
			report(fmt.Sprintf("The image %s already exists, renaming the old one with ID %s to empty string", t, old.ID))
		}
		if err := s.Tag(ctx, loaded.ID, t); err != nil {
			return nil, err
		}
		if n, err := normalize(t); err == nil {
			t = familiar(n)
		}
		if announce {
			report("Loaded image: " + t)
		}
	}
	if len(it.RepoTags) == 0 && announce {
		report("Loaded image ID: " + loaded.ID.String())
	}
	return loaded, nil
}

// loadLayer makes layer i, chain (diff diffID), from the archive entry
// name. Its errors are dockerd's: a layer the archive lacks is a failed
// open (unless the store has it already: dockerd never reads the file
// then), a broken tar the tar reader's words, other content than the
// config's diff ID "invalid diffID".
func (s *Store) loadLayer(ctx context.Context, in *Ingest, st *streamed, i int, name string, diffID, chain digest.Digest) error {
	name = st.resolve(name)
	a, ok := st.layers[name]
	if !ok {
		f, err := st.open(name)
		if err != nil {
			if in.HasLayerAt(diffID, chain) {
				return nil
			}
			return err
		}
		// Not recognised as a layer when it streamed by: unpack it now.
		defer f.Close()
		dec, err := layer.Decompress(f)
		if err != nil {
			return errdefs.Invalid(err)
		}
		defer dec.Close()
		return loadError(i, name, in.layerAt(ctx, dec, diffID, chain, func() error { return nil }, false))
	}
	if a.err != nil {
		return loadError(i, name, a.err)
	}
	if a.diffID != diffID {
		return loadError(i, name, errdefs.Invalid(&content.MismatchError{Expected: diffID, Got: a.diffID}))
	}
	// An OCI layout names a blob by its digest: that must hold too.
	if hex, ok := strings.CutPrefix(name, "blobs/sha256/"); ok && a.blob.Encoded() != hex {
		return fmt.Errorf("layer %s: %w", name, errdefs.Invalidf("content digest mismatch: expected sha256:%s, got %s", hex, a.blob))
	}
	in.s.hold(chain) // until the image is registered (or the ingest closes)
	in.track(chain)
	switch {
	case s.layers.Has(chain):
	case a.p != nil:
		if err := a.p.CommitAs(chain); err != nil {
			return fmt.Errorf("layer %s: %w", name, err)
		}
		a.p, a.chain = nil, chain
		in.noteWrote()
	default: // the same diff under another parent, committed already
		if err := s.unpack(ctx, chain, diffID, a.chain); err != nil {
			return err
		}
		in.noteWrote()
	}
	return nil
}

// loadError words a layer's failure as dockerd does.
func loadError(i int, name string, err error) error {
	var te *layer.TarError
	var me *content.MismatchError
	switch {
	case errors.As(err, &te):
		return errdefs.Invalid(te.Err)
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
