package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/configuration"
	registrymiddleware "github.com/distribution/distribution/v3/registry/middleware/registry"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The OCI distribution-spec 1.1 referrers API, which distribution v3.1.2
// does not implement: GET /v2/<name>/referrers/<digest> lists the manifests
// of <name> whose subject is <digest>, and a manifest PUT with a subject
// answers with an OCI-Subject header. The same front handler routes
// manifest requests by a sha512 digest (aliases.go).
//
// The list is computed from the repository's manifests on each request
// rather than kept in an index of our own: deletes, garbage collection and
// registries written by other tools then need no bookkeeping, and a crash
// cannot leave an index that disagrees with the store.

// referrersMiddleware is the name of the registry middleware through which
// the server gets hold of the application's storage namespace (the
// application keeps it unexported; middlewares are handed it) and wraps it
// with sha512 digest aliases (namespace.go).
const referrersMiddleware = "berth-referrers"

// maxManifestSize matches distribution's own limit on manifest bodies.
const maxManifestSize = 4 << 20

func init() {
	// distribution's middleware registry is process-wide by design, like its
	// storage drivers; the per-server state travels in the options.
	if err := registrymiddleware.Register(referrersMiddleware, captureNamespace); err != nil {
		panic(err)
	}
}

// namespaceRef receives the application's namespace when it is built.
type namespaceRef struct {
	ns atomic.Pointer[aliasNamespace]
}

// captureNamespace is the middleware: it wraps the storage namespace with
// digest aliases (namespace.go) and hands the result to the server.
func captureNamespace(_ context.Context, ns distribution.Namespace, driver storagedriver.StorageDriver, options map[string]any) (distribution.Namespace, error) {
	ref, ok := options["ref"].(*namespaceRef)
	if !ok {
		return nil, errors.New("berth-referrers: internal middleware, not configurable")
	}
	wrapped := &aliasNamespace{Namespace: ns, links: aliasStore{driver: driver}}
	ref.ns.Store(wrapped)
	return wrapped, nil
}

// addReferrersMiddleware puts the capturing middleware first among cfg's
// registry middlewares, so it sees the storage namespace itself.
func addReferrersMiddleware(cfg *configuration.Configuration, ref *namespaceRef) {
	if cfg.Middleware == nil {
		cfg.Middleware = map[string][]configuration.Middleware{}
	}
	mw := configuration.Middleware{Name: referrersMiddleware, Options: configuration.Parameters{"ref": ref}}
	cfg.Middleware["registry"] = append([]configuration.Middleware{mw}, cfg.Middleware["registry"]...)
}

// referrers wraps the application with the referrers API.
type referrers struct {
	base string // "/v2" or "/<prefix>/v2"
	ref  *namespaceRef
	next http.Handler
}

var (
	referrersPath = regexp.MustCompile(`^/(.+)/referrers/([^/]+)$`)
	manifestPath  = regexp.MustCompile(`^/(.+)/manifests/([^/]+)$`)
)

func (rf *referrers) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, rf.base)
	if ok {
		if m := referrersPath.FindStringSubmatch(rest); m != nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			rf.list(w, r, m[1], m[2])
			return
		}
		if m := manifestPath.FindStringSubmatch(rest); m != nil {
			if r.Method == http.MethodPut {
				rf.putManifest(w, r, m[2])
				return
			}
			// A mirror stores what it fetches from upstream with a Put
			// under this context: the alias is linked there too, so the
			// next pull by it is served from the cache.
			if alias, err := digest.Parse(m[2]); err == nil && isAlias(alias) {
				r = r.WithContext(withManifestAlias(r.Context(), alias))
			}
		}
	}
	rf.next.ServeHTTP(w, r)
}

// list answers GET /v2/<name>/referrers/<digest>[?artifactType=T].
func (rf *referrers) list(w http.ResponseWriter, r *http.Request, name, dgst string) {
	// Access control is distribution's: ask it whether this client may
	// list the repository's tags (the same pull scope) and pass on a refusal.
	if refused := rf.authorize(r, name); refused != nil {
		refused.writeTo(w)
		return
	}
	named, err := reference.WithName(name)
	if err != nil {
		writeRegistryError(w, http.StatusBadRequest, "NAME_INVALID", "invalid repository name", name)
		return
	}
	subject, err := digest.Parse(dgst)
	if err != nil {
		writeRegistryError(w, http.StatusBadRequest, "DIGEST_INVALID", "provided digest did not match uploaded content", dgst)
		return
	}
	nsp := rf.ref.ns.Load()
	if nsp == nil {
		writeRegistryError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "registry storage is not ready", nil)
		return
	}
	found, err := referrersOf(r.Context(), nsp, named, subject)
	if err != nil {
		writeRegistryError(w, http.StatusInternalServerError, "UNKNOWN", "unknown error", err.Error())
		return
	}
	if at := r.URL.Query().Get("artifactType"); at != "" {
		found = slices.DeleteFunc(found, func(d ocispec.Descriptor) bool { return d.ArtifactType != at })
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	body, err := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: found,
	})
	if err != nil {
		writeRegistryError(w, http.StatusInternalServerError, "UNKNOWN", "unknown error", err.Error())
		return
	}
	w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(body)
	}
}

// referrersOf reads every manifest of the repository and returns the
// descriptors of those whose subject is subject, sorted by digest. A
// manifest pushed by a sha512 digest is listed by that digest. A
// repository that does not exist has none.
func referrersOf(ctx context.Context, ns *aliasNamespace, name reference.Named, subject digest.Digest) ([]ocispec.Descriptor, error) {
	found := []ocispec.Descriptor{}
	aliases, err := ns.links.list(ctx, revisionLink, name.Name())
	if err != nil {
		return nil, err
	}
	aliasOf := make(map[digest.Digest]digest.Digest, len(aliases))
	for alias, canonical := range aliases {
		aliasOf[canonical] = alias
	}
	repo, err := ns.Repository(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("repository %s: %w", name, err)
	}
	ms, err := repo.Manifests(ctx)
	if err != nil {
		return nil, fmt.Errorf("manifests of %s: %w", name, err)
	}
	enum, ok := ms.(distribution.ManifestEnumerator)
	if !ok {
		return nil, fmt.Errorf("the storage of %s cannot list its manifests", name)
	}
	err = enum.Enumerate(ctx, func(d digest.Digest) error {
		m, err := ms.Get(ctx, d)
		if err != nil {
			var unknown distribution.ErrManifestUnknownRevision
			if errors.As(err, &unknown) {
				return nil // deleted while we listed
			}
			return err
		}
		mt, payload, err := m.Payload()
		if err != nil {
			return err
		}
		if desc, ok := referrerDescriptor(mt, payload, subject); ok {
			desc.Digest = d
			if alias, ok := aliasOf[d]; ok {
				desc.Digest = alias
			}
			found = append(found, desc)
		}
		return nil
	})
	var notFound storagedriver.PathNotFoundError
	if err != nil && !errors.As(err, &notFound) {
		return nil, fmt.Errorf("listing manifests of %s: %w", name, err)
	}
	slices.SortFunc(found, func(a, b ocispec.Descriptor) int { return strings.Compare(string(a.Digest), string(b.Digest)) })
	return found, nil
}

// manifestFields are the parts of an image manifest or index that the
// referrers API reports.
type manifestFields struct {
	MediaType    string              `json:"mediaType"`
	ArtifactType string              `json:"artifactType"`
	Config       *ocispec.Descriptor `json:"config"`
	Subject      *ocispec.Descriptor `json:"subject"`
	Annotations  map[string]string   `json:"annotations"`
}

// referrerDescriptor describes a manifest for a referrers list when its
// subject is subject. The artifact type is the manifest's own, else its
// config's media type, as the spec says.
func referrerDescriptor(mediaType string, payload []byte, subject digest.Digest) (ocispec.Descriptor, bool) {
	var f manifestFields
	if err := json.Unmarshal(payload, &f); err != nil || f.Subject == nil || f.Subject.Digest != subject {
		return ocispec.Descriptor{}, false
	}
	if f.MediaType != "" {
		mediaType = f.MediaType
	}
	at := f.ArtifactType
	if at == "" && f.Config != nil {
		at = f.Config.MediaType
	}
	return ocispec.Descriptor{
		MediaType:    mediaType,
		ArtifactType: at,
		Size:         int64(len(payload)),
		Annotations:  f.Annotations,
	}, true
}

// putManifest passes a manifest PUT to the application and, when the
// manifest names a subject and was stored, answers with OCI-Subject. A PUT
// by a sha512 digest that matches the body goes to the application by the
// body's sha256, which is what distribution checks and stores by; the
// manifest store links the alias (namespace.go) and the client hears its
// own digest back. One that does not match goes through unchanged, so the
// application refuses it (DIGEST_INVALID) after checking credentials.
func (rf *referrers) putManifest(w http.ResponseWriter, r *http.Request, ref string) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxManifestSize+1))
	if err != nil {
		writeRegistryError(w, http.StatusBadRequest, "MANIFEST_INVALID", "manifest invalid", err.Error())
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if alias, err := digest.Parse(ref); err == nil && isAlias(alias) && len(body) <= maxManifestSize && alias.Algorithm().FromBytes(body) == alias {
		u := *r.URL
		u.Path = strings.TrimSuffix(u.Path, ref) + digest.Canonical.FromBytes(body).String()
		u.RawPath = ""
		r = r.WithContext(withManifestAlias(r.Context(), alias))
		r.URL = &u
		w = &aliasHeaderWriter{ResponseWriter: w, alias: alias}
	}
	var f manifestFields
	if len(body) <= maxManifestSize && json.Unmarshal(body, &f) == nil && f.Subject != nil && f.Subject.Digest != "" {
		w = &subjectHeaderWriter{ResponseWriter: w, subject: f.Subject.Digest.String()}
	}
	rf.next.ServeHTTP(w, r)
}

// subjectHeaderWriter adds OCI-Subject to a successful manifest PUT.
type subjectHeaderWriter struct {
	http.ResponseWriter
	subject string
}

func (s *subjectHeaderWriter) WriteHeader(code int) {
	if code == http.StatusCreated {
		s.Header().Set("OCI-Subject", s.subject)
	}
	s.ResponseWriter.WriteHeader(code)
}

// aliasHeaderWriter answers a manifest PUT made by an alias with that
// alias in Docker-Content-Digest and Location.
type aliasHeaderWriter struct {
	http.ResponseWriter
	alias digest.Digest
}

func (a *aliasHeaderWriter) WriteHeader(code int) {
	if code == http.StatusCreated {
		h := a.Header()
		h.Set("Docker-Content-Digest", a.alias.String())
		if loc := h.Get("Location"); loc != "" {
			h.Set("Location", loc[:strings.LastIndex(loc, "/")+1]+a.alias.String())
		}
	}
	a.ResponseWriter.WriteHeader(code)
}

// authorize replays the request's credentials on the repository's tag list
// and returns the application's answer when it refuses them.
func (rf *referrers) authorize(r *http.Request, name string) *recorded {
	sub := r.Clone(r.Context())
	sub.Method = http.MethodGet
	sub.URL.Path = rf.base + "/" + name + "/tags/list"
	sub.URL.RawPath = ""
	sub.URL.RawQuery = ""
	sub.Body = http.NoBody
	sub.ContentLength = 0
	rec := &recorded{header: http.Header{}}
	rf.next.ServeHTTP(rec, sub)
	if rec.code == http.StatusUnauthorized || rec.code == http.StatusForbidden {
		return rec
	}
	return nil
}

// recorded is a response kept in memory (net/http/httptest would register
// test flags in the daemon binary).
type recorded struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (rc *recorded) Header() http.Header { return rc.header }
func (rc *recorded) Write(p []byte) (int, error) {
	if rc.code == 0 {
		rc.code = http.StatusOK
	}
	return rc.body.Write(p)
}
func (rc *recorded) WriteHeader(code int) {
	if rc.code == 0 {
		rc.code = code
	}
}

func (rc *recorded) writeTo(w http.ResponseWriter) {
	for k, v := range rc.header {
		w.Header()[k] = v
	}
	w.WriteHeader(rc.code)
	w.Write(rc.body.Bytes())
}

// writeRegistryError answers in the distribution API's error shape.
func writeRegistryError(w http.ResponseWriter, status int, code, message string, detail any) {
	body, _ := json.Marshal(map[string]any{"errors": []map[string]any{{"code": code, "message": message, "detail": detail}}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}
