package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/filters"
	"github.com/moby/moby/api/types/volume"
)

// fakeVolumes is a Backend with volumes: the container/image fake plus an
// in-memory volume table.
type fakeVolumes struct {
	*fakeBackend
	vols      map[string]volume.Volume
	inUse     map[string]bool
	lastPrune filters.Args
	lastForce bool
}

func (f *fakeVolumes) VolumeCreate(_ context.Context, req *volume.CreateRequest) (*volume.Volume, error) {
	if req.Driver != "" && req.Driver != "local" {
		return nil, errdefs.NotFoundf("error looking up volume plugin %s: plugin %q not found", req.Driver, req.Driver)
	}
	v := volume.Volume{Name: req.Name, Driver: "local", Labels: req.Labels, Options: req.DriverOpts, Scope: "local",
		Mountpoint: "/var/lib/berth/volumes/" + req.Name + "/_data", CreatedAt: "2026-11-27T00:00:00Z"}
	f.vols[v.Name] = v
	return &v, nil
}

func (f *fakeVolumes) VolumeInspect(_ context.Context, name string) (*volume.Volume, error) {
	v, ok := f.vols[name]
	if !ok {
		return nil, errdefs.NotFoundf("get %s: no such volume", name)
	}
	return &v, nil
}

func (f *fakeVolumes) VolumeList(_ context.Context, fl filters.Args) (*volume.ListResponse, error) {
	if err := fl.Validate("name"); err != nil {
		return nil, err
	}
	out := &volume.ListResponse{Volumes: []volume.Volume{}}
	for _, v := range f.vols {
		if fl.ExactMatch("name", v.Name) {
			out.Volumes = append(out.Volumes, v)
		}
	}
	return out, nil
}

func (f *fakeVolumes) VolumeRemove(_ context.Context, name string, force bool) error {
	f.lastForce = force
	if f.inUse[name] {
		return errdefs.Conflictf("remove %s: volume is in use - [abc]", name)
	}
	if _, ok := f.vols[name]; !ok && !force {
		return errdefs.NotFoundf("get %s: no such volume", name)
	}
	delete(f.vols, name)
	return nil
}

func (f *fakeVolumes) VolumesPrune(_ context.Context, fl filters.Args) (*volume.PruneReport, error) {
	f.lastPrune = fl
	return &volume.PruneReport{VolumesDeleted: []string{"anon1"}, SpaceReclaimed: 42}, nil
}

// volumeServer builds a handler with only the volume routes registered, so
// the test does not depend on NewServer's registration list.
func volumeServer(f *fakeVolumes) http.Handler {
	be := f.backends()
	be.Volumes = f
	s := &Server{be: be, opts: Options{Version: "0.0.1-test"}, log: slog.New(slog.DiscardHandler)}
	rt := newRouter()
	s.registerVolumes(rt)
	return s.middleware(rt)
}

func call(t *testing.T, h http.Handler, method, path, body string) (int, string) {
	t.Helper()
	var req *http.Request
	if body != "" {
		req = httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
	} else {
		req = httptest.NewRequest(method, path, nil)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Code, w.Body.String()
}

func TestVolumeRoutes(t *testing.T) {
	f := &fakeVolumes{fakeBackend: &fakeBackend{}, vols: map[string]volume.Volume{}, inUse: map[string]bool{"busy": true}}
	h := volumeServer(f)

	code, body := call(t, h, http.MethodPost, "/v1.50/volumes/create", `{"Driver":"local","Labels":{"k":"v"},"Name":"vol1"}`)
	want := `{"CreatedAt":"2026-11-27T00:00:00Z","Driver":"local","Labels":{"k":"v"},"Mountpoint":"/var/lib/berth/volumes/vol1/_data","Name":"vol1","Options":null,"Scope":"local"}` + "\n"
	if code != http.StatusCreated || body != want {
		t.Fatalf("create: %d %s", code, body)
	}
	if code, body = call(t, h, http.MethodPost, "/volumes/create", `{"Driver":"nfsx"}`); code != http.StatusNotFound ||
		!strings.Contains(body, `plugin \"nfsx\" not found`) {
		t.Fatalf("create with unknown driver: %d %s", code, body)
	}
	if code, body = call(t, h, http.MethodPost, "/volumes/create", `{"Name":`); code != http.StatusBadRequest {
		t.Fatalf("bad JSON: %d %s", code, body)
	}
	if code, body = call(t, h, http.MethodGet, "/v1.50/volumes/vol1", ""); code != http.StatusOK || body != want {
		t.Fatalf("inspect: %d %s", code, body)
	}
	if code, body = call(t, h, http.MethodGet, "/v1.50/volumes/nope", ""); code != http.StatusNotFound ||
		body != `{"message":"get nope: no such volume"}`+"\n" {
		t.Fatalf("inspect missing: %d %s", code, body)
	}
	code, body = call(t, h, http.MethodGet, `/v1.50/volumes?filters={"name":{"vol1":true}}`, "")
	var lr volume.ListResponse
	if code != http.StatusOK || json.Unmarshal([]byte(body), &lr) != nil || len(lr.Volumes) != 1 || !strings.Contains(body, `"Warnings":null`) {
		t.Fatalf("list: %d %s", code, body)
	}
	if code, body = call(t, h, http.MethodGet, `/volumes?filters={"until":{"1h":true}}`, ""); code != http.StatusBadRequest {
		t.Fatalf("list with a bad filter: %d %s", code, body)
	}
	if code, body = call(t, h, http.MethodDelete, "/v1.50/volumes/busy", ""); code != http.StatusConflict ||
		!strings.Contains(body, "volume is in use") {
		t.Fatalf("remove in use: %d %s", code, body)
	}
	if code, body = call(t, h, http.MethodDelete, "/v1.50/volumes/vol1", ""); code != http.StatusNoContent || body != "" {
		t.Fatalf("remove: %d %s", code, body)
	}
	if code, _ = call(t, h, http.MethodDelete, "/v1.50/volumes/vol1?force=1", ""); code != http.StatusNoContent || !f.lastForce {
		t.Fatalf("force remove of a missing volume: %d", code)
	}
	if code, _ = call(t, h, http.MethodDelete, "/v1.50/volumes/vol1?force=maybe", ""); code != http.StatusBadRequest {
		t.Fatalf("bad force: %d", code)
	}
}

func TestVolumePruneVersions(t *testing.T) {
	f := &fakeVolumes{fakeBackend: &fakeBackend{}, vols: map[string]volume.Volume{}}
	h := volumeServer(f)
	code, body := call(t, h, http.MethodPost, `/v1.50/volumes/prune?filters={"label":{"k=v2":true}}`, "")
	if code != http.StatusOK || body != `{"VolumesDeleted":["anon1"],"SpaceReclaimed":42}`+"\n" {
		t.Fatalf("prune: %d %s", code, body)
	}
	if f.lastPrune.Contains("all") || !f.lastPrune.ExactMatch("label", "k=v2") {
		t.Fatalf("1.50 prune filters = %v; want the client's only", f.lastPrune)
	}
	// Before 1.42, prune meant every unused volume.
	call(t, h, http.MethodPost, "/v1.41/volumes/prune", "")
	if all := f.lastPrune.Get("all"); len(all) != 1 || all[0] != "true" {
		t.Fatalf("1.41 prune filters = %v; want all=true", f.lastPrune)
	}
	call(t, h, http.MethodPost, `/v1.41/volumes/prune?filters={"all":{"false":true}}`, "")
	if all := f.lastPrune.Get("all"); len(all) != 1 || all[0] != "false" {
		t.Fatalf("1.41 prune kept the client's all: %v", f.lastPrune)
	}
}
