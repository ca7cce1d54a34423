package layer

// A pulled or loaded layer is written once: unpacked into its directory,
// with no copy of its tar in the blob store. What it takes to give the
// same tar back byte for byte (a save, a push, a second chain with the
// same diff) is recorded beside it while it unpacks, in tar-split's
// format: every header and padding block as it came, and each file's size.
// The tar is put back together from those records and the unpacked
// files, and its digest is checked against the recorded diff ID as it
// streams out.

import (
	stdtar "archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/klauspost/compress/gzip"
	digest "github.com/opencontainers/go-digest"
	tstar "github.com/vbatts/tar-split/archive/tar"
	"github.com/vbatts/tar-split/tar/storage"
	"golang.org/x/sys/unix"
)

const (
	tarSplitFile = "tar-split.json.gz" // the tar's headers and padding (tar-split's JSON entries, gzipped)
	tarInfoFile  = "tar.json"          // the tar's digest (the diff ID) and length
)

// tarInfo is what tarInfoFile holds.
type tarInfo struct {
	DiffID digest.Digest `json:"diffID"`
	Size   int64         `json:"size"`
}

// UnpackRecorded is Unpack for a layer whose tar is kept nowhere else: it
// unpacks r into a private directory and records there how to give the
// tar back (see OpenTar). check sees every entry before it is unpacked and
// may refuse it. It returns the tar's digest and length; the caller
// compares the digest with the diff ID before it commits.
func (s *Store) UnpackRecorded(ctx context.Context, chain digest.Digest, r io.Reader, check func(*stdtar.Header) error) (_ *Pending, diffID digest.Digest, size int64, err error) {
	p, err := s.newPending(chain)
	if err != nil {
		return nil, "", 0, err
	}
	defer func() {
		if err != nil {
			p.Abort()
		}
	}()
	meta, err := os.Create(filepath.Join(p.tmp, tarSplitFile))
	if err != nil {
		return nil, "", 0, fmt.Errorf("unpack layer: %w", err)
	}
	defer meta.Close()
	zw := gzip.NewWriter(meta)

	x, err := newExtractor(filepath.Join(p.tmp, "diff"))
	if err != nil {
		return nil, "", 0, fmt.Errorf("unpack layer: %w", err)
	}
	// The diff ID is taken on a goroutine of its own (see AsyncWriter):
	// reading and writing the layer keep one core busy, hashing another.
	dg := digest.Canonical.Digester()
	hash := NewAsyncWriter(dg.Hash(), pipeSize)
	cnt := &counter{}
	err = record(ctx, r, io.MultiWriter(hash, cnt), json.NewEncoder(zw), check, x)
	if err == nil {
		err = x.close()
	} else {
		x.abort()
	}
	if herr := hash.Close(); err == nil {
		err = herr
	}
	if err != nil {
		return nil, "", 0, p.unpackError(ctx, err)
	}
	err = p.finish()
	if err == nil {
		err = zw.Close()
	}
	if err == nil {
		b, _ := json.Marshal(tarInfo{DiffID: dg.Digest(), Size: cnt.n})
		err = os.WriteFile(filepath.Join(p.tmp, tarInfoFile), b, 0o600)
	}
	if err != nil {
		return nil, "", 0, err
	}
	return p, dg.Digest(), cnt.n, nil
}

// record reads the tar src to its end, writing one tar-split entry per
// header, padding block and file body to enc, passing the bytes on to
// out, and creating each entry check accepted with x.
func record(ctx context.Context, src io.Reader, out io.Writer, enc *json.Encoder, check func(*stdtar.Header) error, x *extractor) error {
	tr := tstar.NewReader(ctxReader{ctx, src})
	tr.RawAccounting = true
	segment := func() error {
		b := tr.RawBytes()
		if len(b) == 0 {
			return nil
		}
		if _, err := out.Write(b); err != nil {
			return err
		}
		return enc.Encode(storage.Entry{Type: storage.SegmentType, Payload: b})
	}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if err := segment(); err != nil {
				return err
			}
			break
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return errdefs.Invalid(&TarError{err})
		}
		if err := check(&stdtar.Header{Name: hdr.Name, Linkname: hdr.Linkname, Typeflag: hdr.Typeflag}); err != nil {
			return err
		}
		if err := segment(); err != nil {
			return err
		}
		e := storage.Entry{Type: storage.FileType, Size: hdr.Size}
		e.SetName(hdr.Name)
		if err := x.entry(hdr, tr, out); err != nil {
			if te := (*TarError)(nil); errors.As(err, &te) {
				return errdefs.Invalid(err)
			}
			return err
		}
		// What the entry did not take (a body of a non-regular file).
		if hdr.Size > 0 {
			if _, err := io.Copy(out, tr); err != nil {
				if errors.Is(err, io.ErrClosedPipe) {
					return err
				}
				return errdefs.Invalid(&TarError{err})
			}
		}
		if err := enc.Encode(e); err != nil {
			return err
		}
		if err := segment(); err != nil {
			return err
		}
	}
	// Whatever follows the end marker is part of the diff ID too.
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, err := out.Write(buf[:n]); err != nil {
				return err
			}
			if err := enc.Encode(storage.Entry{Type: storage.SegmentType, Payload: buf[:n]}); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read layer: %w", err)
		}
	}
}

// TarError is a layer that is no valid tar; a load reports the tar
// reader's error alone, as dockerd does.
type TarError struct{ Err error }

func (e *TarError) Error() string { return "invalid tar archive: " + e.Err.Error() }
func (e *TarError) Unwrap() error { return e.Err }

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// HasTar reports whether layer chain recorded its tar, and which.
func (s *Store) HasTar(chain digest.Digest) (digest.Digest, int64, bool) {
	b, err := os.ReadFile(filepath.Join(s.layerDir(chain), tarInfoFile))
	if err != nil {
		return "", 0, false
	}
	var ti tarInfo
	if json.Unmarshal(b, &ti) != nil || ti.DiffID.Validate() != nil {
		return "", 0, false
	}
	return ti.DiffID, ti.Size, true
}

// OpenTar gives back the tar layer chain was unpacked from, byte for byte,
// and its length. A read fails if the tar that comes out is not the one
// recorded (its digest is checked at the end, each file's length as it
// goes). The caller keeps the layer from being removed until it is done.
func (s *Store) OpenTar(chain digest.Digest) (io.ReadCloser, int64, error) {
	ti, size, ok := s.HasTar(chain)
	if !ok {
		return nil, 0, errdefs.NotFoundf("layer %s has no recorded tar", chain)
	}
	f, err := os.Open(filepath.Join(s.layerDir(chain), tarSplitFile))
	if err != nil {
		return nil, 0, fmt.Errorf("layer %s: %w", chain, err)
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("layer %s: %w", chain, err)
	}
	// Only a directory: a layer's root must never be opened for reading
	// as whatever else an archive made of it (a fifo would block).
	rfd, err := unix.Open(s.DiffDir(chain), unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	root := os.NewFile(uintptr(rfd), s.DiffDir(chain))
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("layer %s: %w", chain, err)
	}
	pr, pw := newBufPipe(pipeSize)
	go func() {
		defer f.Close()
		defer root.Close()
		dg := digest.Canonical.Digester()
		w := io.MultiWriter(pw, dg.Hash())
		err := assemble(beneath{root}, json.NewDecoder(zr), w)
		if err == nil && dg.Digest() != ti {
			err = fmt.Errorf("layer %s: the tar put back together is %s, not %s", chain, dg.Digest(), ti)
		}
		pw.CloseWithError(err)
	}()
	return pipeCloser{pr}, size, nil
}

// pipeSize is the buffer between a layer's reading and its unpacking.
const pipeSize = 1 << 20

// pipeCloser is the reading end as an io.ReadCloser: closing it stops
// the writer.
type pipeCloser struct{ *bufPipeReader }

func (p pipeCloser) Close() error { p.CloseWithError(nil); return nil }

// assemble writes the tar back: each recorded segment as it was, each
// file's body from the unpacked file, which must have the recorded size.
// No per-file checksum is kept (tar-split's crc64 cost a quarter of an
// unpack's CPU time): the digest of the whole tar is checked instead.
// (tar-split's own reader also refuses a name seen twice, which real
// layers have: a directory listed twice.)
func assemble(files beneath, dec *json.Decoder, w io.Writer) error {
	buf := make([]byte, 64<<10)
	for {
		var e storage.Entry
		if err := dec.Decode(&e); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		switch e.Type {
		case storage.SegmentType:
			if _, err := w.Write(e.Payload); err != nil {
				return err
			}
		case storage.FileType:
			if e.Size == 0 {
				continue
			}
			f, err := files.Get(e.GetName())
			if err != nil {
				return err
			}
			n, err := io.CopyBuffer(w, io.LimitReader(f, e.Size), buf)
			f.Close()
			if err != nil {
				return err
			}
			if n != e.Size {
				return fmt.Errorf("layer file %q has %d bytes, not %d", e.GetName(), n, e.Size)
			}
		}
	}
}

// beneath opens a recorded file's body inside the layer's directory
// only: no symlink is followed and nothing outside it is reached, so a
// layer whose files were replaced by links cannot make a save read the
// host's files. Only a regular file is opened for reading: a layer may
// have put a fifo or a device where its tar had a file with a body
// (the same name twice), and opening those could block or reach a device.
type beneath struct{ root *os.File }

func (b beneath) Get(name string) (*os.File, error) {
	fd, err := unix.Openat2(int(b.root.Fd()), filepath.Clean("/" + name)[1:], &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC | unix.O_NOFOLLOW,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return nil, fmt.Errorf("layer file %q: %w", name, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("layer file %q is not a regular file", name)
	}
	// Reopen what was checked, not the name again.
	f, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", fd), os.O_RDONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("layer file %q: %w", name, err)
	}
	return f, nil
}
