package builder

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/archive"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/go-archive/compression"
	"github.com/moby/patternmatcher"
	"github.com/moby/sys/user"
)

// copySpec is a COPY or ADD after expansion.
type copySpec struct {
	name     string // "COPY" or "ADD"
	text     string
	sources  []string
	contents []instructions.SourceContent
	dest     string
	from     string
	chown    string
	chmod    string
	exclude  []string
	add      bool // ADD: URLs and local archives
	unpack   bool
	checksum string
}

func copyFromCommand(c *instructions.CopyCommand) copySpec {
	return copySpec{name: "COPY", text: commandText(c), sources: c.SourcePaths, contents: c.SourceContents,
		dest: c.DestPath, from: c.From, chown: c.Chown, chmod: c.Chmod, exclude: c.ExcludePatterns}
}

func copyFromAdd(c *instructions.AddCommand) copySpec {
	unpack := true
	if c.Unpack != nil {
		unpack = *c.Unpack
	}
	return copySpec{name: "ADD", text: commandText(c), sources: c.SourcePaths, contents: c.SourceContents,
		dest: c.DestPath, chown: c.Chown, chmod: c.Chmod, exclude: c.ExcludePatterns, add: true,
		unpack: unpack, checksum: c.Checksum}
}

// source is one file or directory to copy, found under root.
type source struct {
	root    string // host dir the rel path is inside
	rel     string // slash path inside root, symlinks resolved
	base    string // name it gets inside a destination directory
	isDir   bool
	archive bool // ADD: a local tar to unpack
	remote  bool // ADD: downloaded from a URL
}

// copy runs a COPY or ADD step.
func (s *stageRun) copy(ctx context.Context, st *state, c copySpec) error {
	srcRoot := s.r.ctxDir
	fromDesc := ""
	if c.from != "" {
		img, err := s.image(ctx, c.from)
		if err != nil {
			if errors.Is(err, errSkip) {
				return err
			}
			return fmt.Errorf("invalid from flag value %s: %w", c.from, err)
		}
		dir, release, err := s.r.b.mountImage(ctx, img)
		if err != nil {
			return err
		}
		defer release()
		srcRoot = dir
		fromDesc = img.ID.String()
	}
	if c.from == "" && c.add {
		// ADD looks into its sources (is it an archive?) to resolve them.
		if err := s.r.deferred.materialize(); err != nil {
			return err
		}
	}
	tmp, err := os.MkdirTemp(filepath.Join(s.r.b.root, "tmp"), "copy-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	srcs, err := s.resolveSources(ctx, c, srcRoot, tmp)
	if err != nil {
		return err
	}
	dest := c.dest
	if !path.IsAbs(dest) {
		dest = path.Join(orRoot(st.cfg.WorkingDir), dest)
		if strings.HasSuffix(c.dest, "/") || c.dest == "." {
			dest += "/"
		}
	}
	if len(srcs) > 1 && !strings.HasSuffix(dest, "/") {
		return errdefs.Invalidf("When using %s with more than one source file, the destination must be a directory and end with a /", c.name)
	}
	sum, err := checksum(srcs, s.r.ctxDir, s.r.sums)
	if err != nil {
		return err
	}
	kind := "file"
	if len(srcs) > 1 || (len(srcs) == 1 && srcs[0].isDir) {
		kind = "dir"
	}
	createdBy := fmt.Sprintf("/bin/sh -c #(nop) %s %s:%s in %s ", c.name, kind, sum, dest)
	key := cacheKey(st.parentID(), createdBy, fromDesc, c.chown, c.chmod, strings.Join(c.exclude, ","), strconv.FormatBool(c.unpack))
	if s.probe(ctx, st, key, createdBy) {
		return nil
	}
	if c.from == "" {
		// A miss copies the files: their content must be on disk now.
		if err := s.r.deferred.materialize(); err != nil {
			return err
		}
	}
	rw, cleanup, err := s.inScratchLayer(ctx, st, func(rootfs string) error {
		return s.copyInto(ctx, c, rootfs, dest, srcs)
	})
	defer cleanup()
	if err != nil {
		return err
	}
	return s.commit(ctx, st, key, rw, createdBy, c.text)
}

// resolveSources expands the sources (wildcards, URLs, heredocs) into the
// files and directories to copy. Paths never leave root.
func (s *stageRun) resolveSources(ctx context.Context, c copySpec, root, tmp string) ([]source, error) {
	var out []source
	for i, sc := range c.contents {
		name := fmt.Sprintf("heredoc-%d", i)
		if err := os.WriteFile(filepath.Join(tmp, name), []byte(sc.Data), 0o644); err != nil {
			return nil, err
		}
		out = append(out, source{root: tmp, rel: name, base: path.Base(sc.Path)})
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	for _, src := range c.sources {
		if c.add && (strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://")) {
			sr, err := download(ctx, src, c.checksum, tmp)
			if err != nil {
				return nil, err
			}
			out = append(out, sr)
			continue
		}
		if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") {
			return nil, errdefs.Invalidf("source can't be a URL for COPY")
		}
		clean := path.Clean(src)
		if clean == ".." || strings.HasPrefix(clean, "../") {
			return nil, errdefs.Invalidf("%s failed: forbidden path outside the build context: %s ()", c.name, src)
		}
		clean = strings.TrimPrefix(path.Clean("/"+src), "/")
		if clean == "" {
			clean = "."
		}
		var matches []string
		if hasMeta(clean) {
			matches, err = glob(root, clean)
			if err != nil {
				return nil, err
			}
			if len(matches) == 0 {
				return nil, errdefs.Invalidf("%s failed: no source files were specified", c.name)
			}
		} else {
			matches = []string{clean}
		}
		for _, m := range matches {
			real, err := archive.HostPath(root, "/"+m)
			if err != nil {
				if c.from == "" {
					return nil, errdefs.Invalidf("%s failed: file not found in build context or excluded by .dockerignore: stat %s: file does not exist", c.name, src)
				}
				return nil, errdefs.Invalidf("%s failed: stat %s: file does not exist", c.name, src)
			}
			rel, err := filepath.Rel(root, real)
			if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
				return nil, errdefs.Invalidf("%s failed: forbidden path outside the build context: %s ()", c.name, src)
			}
			fi, err := r.Stat(filepath.ToSlash(rel))
			if err != nil {
				return nil, errdefs.Invalidf("%s failed: stat %s: %v", c.name, src, err)
			}
			sr := source{root: root, rel: filepath.ToSlash(rel), base: path.Base(m), isDir: fi.IsDir()}
			if c.add && c.unpack && !sr.isDir && isArchive(r, sr.rel) {
				sr.archive = true
			}
			out = append(out, sr)
		}
	}
	return out, nil
}

func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[\`) }

// glob matches pattern against every path under root with filepath.Match
// rules, as Docker's builder does.
func glob(root, pattern string) ([]string, error) {
	if _, err := filepath.Match(pattern, ""); err != nil {
		return nil, errdefs.Invalidf("invalid source pattern %q: %v", pattern, err)
	}
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		if ok, _ := filepath.Match(pattern, filepath.ToSlash(rel)); ok {
			out = append(out, filepath.ToSlash(rel))
			if d.IsDir() {
				return filepath.SkipDir
			}
		}
		return nil
	})
	return out, err
}

// isArchive reports whether a file is a (possibly compressed) tar.
func isArchive(r *os.Root, rel string) bool {
	f, err := r.Open(rel)
	if err != nil {
		return false
	}
	defer f.Close()
	rc, err := compression.DecompressStream(f)
	if err != nil {
		return false
	}
	defer rc.Close()
	head := make([]byte, 512)
	n, _ := io.ReadFull(rc, head)
	return looksLikeTar(head[:n])
}

// download fetches an ADD URL into dir. The file gets mode 0600 and the
// server's Last-Modified time, as in Docker.
func download(ctx context.Context, rawURL, want, dir string) (source, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return source{}, errdefs.Invalid(err)
	}
	ctx, cancel := context.WithTimeout(ctx, remoteTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return source{}, errdefs.Invalid(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return source{}, errdefs.Invalid(fmt.Errorf("ADD failed: %w", err))
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return source{}, errdefs.Invalidf("ADD failed: failed to GET %s with status %s", rawURL, resp.Status)
	}
	base := path.Base(u.Path)
	if base == "/" || base == "." || base == "" {
		base = "index.html"
	}
	name := "url-" + randomID()[:8]
	p := filepath.Join(dir, name)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		return source{}, err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return source{}, fmt.Errorf("ADD %s: %w", rawURL, err)
	}
	if want != "" && want != "sha256:"+hex.EncodeToString(h.Sum(nil)) {
		return source{}, errdefs.Invalidf("ADD failed: digest mismatch for %s: want %s, got sha256:%x", rawURL, want, h.Sum(nil))
	}
	if lm, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		os.Chtimes(p, lm, lm)
	}
	return source{root: dir, rel: name, base: base, remote: true}, nil
}

// checksum hashes what the sources hold: names, modes, link targets and
// contents (not times), so an unchanged file keeps its cache hit.
func checksum(srcs []source, ctxDir string, sums map[string]fileSum) (string, error) {
	h := sha256.New()
	for _, sr := range srcs {
		fmt.Fprintf(h, "src %s %v %v\n", sr.base, sr.archive, sr.remote)
		r, err := os.OpenRoot(sr.root)
		if err != nil {
			return "", err
		}
		err = walkSource(r, sr, func(rel string, fi fs.FileInfo, link string) error {
			fmt.Fprintf(h, "%s %o %s %d\n", rel, fi.Mode(), link, fi.Size())
			if !fi.Mode().IsRegular() {
				return nil
			}
			full := path.Join(sr.rel, rel)
			if known, ok := sums[full]; ok && sr.root == ctxDir && known.size == fi.Size() {
				h.Write(known.sum[:])
				return nil
			}
			return hashFile(h, r, full)
		})
		r.Close()
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// hashFile adds the file's content hash to h: the same bytes the digests
// taken while unpacking the context contribute.
func hashFile(h hash.Hash, r *os.Root, name string) error {
	f, err := r.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	fh := newContentHash()
	if _, err = io.Copy(fh, f); err != nil {
		return err
	}
	h.Write(fh.Sum(nil))
	return nil
}

// walkSource calls fn for a source file ("" rel) or for every entry under
// a source directory (rel paths inside it, parents first).
func walkSource(r *os.Root, sr source, fn func(rel string, fi fs.FileInfo, link string) error) error {
	if !sr.isDir {
		fi, err := r.Stat(sr.rel)
		if err != nil {
			return err
		}
		return fn("", fi, "")
	}
	return fs.WalkDir(r.FS(), sr.rel, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == sr.rel {
			return nil
		}
		rel := p
		if sr.rel != "." {
			rel = strings.TrimPrefix(p, sr.rel+"/")
		}
		fi, err := r.Lstat(p)
		if err != nil {
			return err
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = r.Readlink(p); err != nil {
				return err
			}
		}
		return fn(rel, fi, link)
	})
}

// copyInto writes the sources into rootfs at dest.
func (s *stageRun) copyInto(ctx context.Context, c copySpec, rootfs, dest string, srcs []source) error {
	uid, gid, err := chownIDs(rootfs, c.chown)
	if err != nil {
		return err
	}
	var mode *fs.FileMode
	if c.chmod != "" {
		m, err := strconv.ParseUint(c.chmod, 8, 32)
		if err != nil || m > 0o7777 {
			return errdefs.Invalidf("invalid chmod parameter %q: it must be an octal mode", c.chmod)
		}
		fm := fs.FileMode(m)
		mode = &fm
	}
	var ex *patternmatcher.PatternMatcher
	if len(c.exclude) > 0 {
		if ex, err = patternmatcher.New(c.exclude); err != nil {
			return errdefs.Invalid(err)
		}
	}
	destIsDir := strings.HasSuffix(dest, "/")
	if !destIsDir && len(srcs) == 1 && (srcs[0].isDir || srcs[0].archive) {
		destIsDir = true
	}
	if !destIsDir {
		if d, err := archive.IsDir(rootfs, dest); err == nil && d {
			destIsDir = true
		}
	}
	destDir, destName := dest, ""
	if !destIsDir {
		destDir, destName = path.Dir(dest), path.Base(dest)
	}
	if err := archive.MkdirAll(ctx, rootfs, destDir, uid, gid); err != nil {
		return fmt.Errorf("%s failed: %w", c.name, err)
	}
	for _, sr := range srcs {
		if sr.archive {
			if err := extractArchive(ctx, rootfs, destDir, sr, c.chown != "", uid, gid); err != nil {
				return err
			}
			continue
		}
		name := sr.base
		if destName != "" {
			name = destName
		}
		pr, pw := io.Pipe()
		go func() {
			pw.CloseWithError(writeSourceTar(pw, sr, name, uid, gid, mode, ex))
		}()
		err := archive.Extract(ctx, rootfs, destDir, pr, false, true)
		pr.CloseWithError(err)
		if err != nil {
			return fmt.Errorf("%s failed: %w", c.name, err)
		}
	}
	return nil
}

// writeSourceTar writes one source as a tar: a file under name, or a
// directory's contents, owned by uid:gid, with mode overriding
// permissions when set.
func writeSourceTar(w io.Writer, sr source, name string, uid, gid int, mode *fs.FileMode, ex *patternmatcher.PatternMatcher) error {
	r, err := os.OpenRoot(sr.root)
	if err != nil {
		return err
	}
	defer r.Close()
	bw := bufio.NewWriterSize(w, 256<<10)
	tw := tar.NewWriter(bw)
	err = walkSource(r, sr, func(rel string, fi fs.FileInfo, link string) error {
		full := path.Join(sr.rel, rel)
		if ex != nil && rel != "" {
			if m, _ := ex.MatchesOrParentMatches(rel); m {
				if fi.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
		}
		if !fi.Mode().IsRegular() && !fi.IsDir() && fi.Mode()&fs.ModeSymlink == 0 {
			return nil // devices, sockets, fifos are not copied
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		hdr.Name = name
		if sr.isDir {
			hdr.Name = rel
		}
		if fi.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = uid, gid, "", ""
		if mode != nil && fi.Mode()&fs.ModeSymlink == 0 {
			hdr.Mode = int64(*mode)
		}
		if sr.remote {
			hdr.Mode = 0o600
			if mode != nil {
				hdr.Mode = int64(*mode)
			}
		}
		hdr.Format = tar.FormatPAX
		hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			f, err := r.Open(full)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

// extractArchive unpacks a local tar for ADD, keeping the archive's
// owners unless --chown is given.
func extractArchive(ctx context.Context, rootfs, destDir string, sr source, chown bool, uid, gid int) error {
	r, err := os.OpenRoot(sr.root)
	if err != nil {
		return err
	}
	defer r.Close()
	f, err := r.Open(sr.rel)
	if err != nil {
		return err
	}
	defer f.Close()
	rc, err := compression.DecompressStream(f)
	if err != nil {
		return err
	}
	defer rc.Close()
	var in io.Reader = rc
	if chown {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(rewriteOwners(rc, pw, uid, gid)) }()
		defer pr.Close()
		in = pr
	}
	if err := archive.Extract(ctx, rootfs, destDir, in, false, true); err != nil {
		return fmt.Errorf("ADD failed: %s: %w", sr.base, err)
	}
	return nil
}

func rewriteOwners(r io.Reader, w io.Writer, uid, gid int) error {
	tr := tar.NewReader(r)
	tw := tar.NewWriter(w)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return tw.Close()
		}
		if err != nil {
			return err
		}
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = uid, gid, "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}

// chownIDs resolves --chown=user[:group] against the image's /etc/passwd
// and /etc/group; numbers are taken as they are.
func chownIDs(rootfs, spec string) (int, int, error) {
	if spec == "" {
		return 0, 0, nil
	}
	u, g, ok := strings.Cut(spec, ":")
	if !ok {
		g = u
	}
	uid, err := lookupID(rootfs, "/etc/passwd", u, true)
	if err != nil {
		return 0, 0, err
	}
	gid := uid
	if ok || g != u {
		if gid, err = lookupID(rootfs, "/etc/group", g, false); err != nil {
			return 0, 0, err
		}
	} else if _, numeric := strconv.Atoi(u); numeric != nil {
		// A user name alone: its group of the same name, else its primary group.
		if gid, err = lookupID(rootfs, "/etc/group", g, false); err != nil {
			gid, _ = primaryGroup(rootfs, u)
		}
	}
	return uid, gid, nil
}

func lookupID(rootfs, file, name string, isUser bool) (int, error) {
	if n, err := strconv.Atoi(name); err == nil {
		return n, nil
	}
	p, err := archive.HostPath(rootfs, file)
	if err != nil {
		return 0, errdefs.Invalidf("unable to convert uid/gid chown string to host mapping: can't find uid for user %s: no such user: %s", name, name)
	}
	f, err := os.Open(p)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if isUser {
		us, err := user.ParsePasswdFilter(f, func(u user.User) bool { return u.Name == name })
		if err != nil || len(us) == 0 {
			return 0, errdefs.Invalidf("unable to convert uid/gid chown string to host mapping: can't find uid for user %s: no such user: %s", name, name)
		}
		return us[0].Uid, nil
	}
	gs, err := user.ParseGroupFilter(f, func(g user.Group) bool { return g.Name == name })
	if err != nil || len(gs) == 0 {
		return 0, errdefs.Invalidf("unable to convert uid/gid chown string to host mapping: can't find gid for group %s: no such group: %s", name, name)
	}
	return gs[0].Gid, nil
}

func primaryGroup(rootfs, name string) (int, error) {
	p, err := archive.HostPath(rootfs, "/etc/passwd")
	if err != nil {
		return 0, err
	}
	f, err := os.Open(p)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	us, err := user.ParsePasswdFilter(f, func(u user.User) bool { return u.Name == name })
	if err != nil || len(us) == 0 {
		return 0, fmt.Errorf("no such user %s", name)
	}
	return us[0].Gid, nil
}
