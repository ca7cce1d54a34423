package distribution

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/klauspost/compress/gzip"
	digest "github.com/opencontainers/go-digest"
)

// gzipLevel trades size for speed like dockerd's default level, with
// klauspost's encoder, which is several times faster than compress/gzip.
const gzipLevel = gzip.DefaultCompression

// url is an endpoint of the repository: base/v2/<repo>/<rest>. The
// transport switches the scheme to whatever the registry's ping answered.
func (p *pusher) url(rest string) string {
	return fmt.Sprintf("%s://%s/v2/%s/%s", p.repo.Scheme(), p.repo.RegistryStr(), p.repo.RepositoryStr(), rest)
}

func (p *pusher) do(ctx context.Context, method, u string, body io.Reader, hdr map[string]string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return p.client.Do(req)
}

// blobExists HEADs blob d in the repository. Any failure counts as "not
// there": the upload that follows reports real errors in full.
func (p *pusher) blobExists(ctx context.Context, d digest.Digest) (int64, bool) {
	resp, err := p.do(ctx, http.MethodHead, p.url("blobs/"+d.String()), nil, nil)
	if err != nil {
		return 0, false
	}
	resp.Body.Close()
	return resp.ContentLength, resp.StatusCode == http.StatusOK
}

// startUpload opens an upload session, asking the registry to mount blob
// mount from repository from when mount is set. mounted reports a mount
// done; otherwise loc is where the upload goes.
func (p *pusher) startUpload(ctx context.Context, mount digest.Digest, from string) (loc string, mounted bool, err error) {
	u := p.url("blobs/uploads/")
	if mount != "" {
		u += "?" + url.Values{"mount": {mount.String()}, "from": {from}}.Encode()
	}
	resp, err := p.do(ctx, http.MethodPost, u, http.NoBody, nil)
	if err != nil {
		return "", false, err
	}
	defer resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusCreated, http.StatusAccepted); err != nil {
		return "", false, err
	}
	if mount != "" && resp.StatusCode == http.StatusCreated {
		return "", true, nil
	}
	loc, err = location(resp)
	return loc, false, err
}

// location resolves the Location header of resp, which registries may send
// relative to the request.
func location(resp *http.Response) (string, error) {
	l := resp.Header.Get("Location")
	if l == "" {
		return "", fmt.Errorf("registry sent no upload location (status %d)", resp.StatusCode)
	}
	u, err := resp.Request.URL.Parse(l)
	if err != nil {
		return "", fmt.Errorf("bad upload location %q: %w", l, err)
	}
	return u.String(), nil
}

// withDigest adds ?digest= to an upload location, keeping the registry's
// own query (distribution keeps its upload state there).
func withDigest(loc string, d digest.Digest) (string, error) {
	u, err := url.Parse(loc)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("digest", d.String())
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// uploadLayer streams the layer through gzip into one PATCH, hashing the
// compressed bytes on the way, then commits the upload under that digest.
func (p *pusher) uploadLayer(ctx context.Context, loc string, diffID digest.Digest, id string) (descriptor, error) {
	f, size, err := p.store.OpenLayer(ctx, diffID)
	if err != nil {
		return descriptor{}, err
	}
	defer f.Close()
	pr, pw := io.Pipe()
	dg := digest.Canonical.Digester()
	var n countWriter
	done := make(chan struct{})
	go func() {
		defer close(done)
		zw, err := gzip.NewWriterLevel(io.MultiWriter(pw, dg.Hash(), &n), gzipLevel)
		if err == nil {
			src := &pushProgress{r: f, rep: p.rep, id: id, total: size}
			if _, err = io.Copy(zw, src); err == nil {
				err = zw.Close()
			}
		}
		pw.CloseWithError(err)
	}()
	resp, err := p.do(ctx, http.MethodPatch, loc, pr, map[string]string{"Content-Type": "application/octet-stream"})
	pr.CloseWithError(io.ErrClosedPipe) // stops the compressor if the registry stopped reading
	<-done
	if err != nil {
		return descriptor{}, err
	}
	resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusAccepted, http.StatusNoContent, http.StatusCreated); err != nil {
		return descriptor{}, err
	}
	next, err := location(resp)
	if err != nil {
		return descriptor{}, err
	}
	d := dg.Digest()
	if err := p.commit(ctx, next, d, nil); err != nil {
		return descriptor{}, err
	}
	return descriptor{MediaType: mediaTypeLayer, Size: n.n, Digest: d}, nil
}

// commit finishes an upload with PUT ?digest=, carrying body when the
// whole blob goes in this one request.
func (p *pusher) commit(ctx context.Context, loc string, d digest.Digest, body []byte) error {
	u, err := withDigest(loc, d)
	if err != nil {
		return err
	}
	var r io.Reader = http.NoBody
	hdr := map[string]string{}
	if body != nil {
		r = bytes.NewReader(body)
		hdr["Content-Type"] = "application/octet-stream"
	}
	resp, err := p.do(ctx, http.MethodPut, u, r, hdr)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return transport.CheckError(resp, http.StatusCreated)
}

// putConfig uploads the image config unless the repository has it.
func (p *pusher) putConfig(ctx context.Context, cfg descriptor, raw []byte) error {
	if _, ok := p.blobExists(ctx, cfg.Digest); ok {
		return nil
	}
	loc, _, err := p.startUpload(ctx, "", "")
	if err != nil {
		return err
	}
	return p.commit(ctx, loc, cfg.Digest, raw)
}

func (p *pusher) putManifest(ctx context.Context, tag string, mb []byte) error {
	resp, err := p.do(ctx, http.MethodPut, p.url("manifests/"+tag), bytes.NewReader(mb),
		map[string]string{"Content-Type": mediaTypeManifest})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusCreated, http.StatusOK, http.StatusAccepted); err != nil {
		return err
	}
	if got := resp.Header.Get("Docker-Content-Digest"); got != "" && got != digest.FromBytes(mb).String() {
		return errdefs.Invalidf("registry stored manifest %s as %s", digest.FromBytes(mb), got)
	}
	return nil
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(b []byte) (int, error) {
	c.n += int64(len(b))
	return len(b), nil
}

// pushProgress reports "Pushing" as the uncompressed layer is read, at
// most every 100ms and once at the end; Docker's bar also counts the
// uncompressed size.
type pushProgress struct {
	r     io.Reader
	rep   *reporter
	id    string
	total int64
	n     int64
	last  time.Time
}

func (p *pushProgress) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if now := time.Now(); n > 0 && (now.Sub(p.last) >= 100*time.Millisecond || p.n == p.total) {
		p.last = now
		p.rep.bytes(p.id, "Pushing", p.n, p.total)
	}
	return n, err
}
