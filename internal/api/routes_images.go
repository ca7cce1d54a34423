package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/berth-project/berth/internal/jsonstream"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/registry"
)

func (s *Server) registerImages(rt *router) {
	rt.get("/images/json", s.imageList)
	rt.post("/images/create", s.imageCreate)
	rt.post("/images/load", s.imageLoad)
	rt.get("/images/get", s.imageSaveMany)
	rt.post("/images/prune", s.imagesPrune)
	rt.get("/images/search", s.imageSearch)
	rt.get("/images/{name:.*}/json", s.imageInspect)
	rt.get("/images/{name:.*}/history", s.imageHistory)
	rt.get("/images/{name:.*}/get", s.imageSaveOne)
	rt.post("/images/{name:.*}/tag", s.imageTag)
	rt.post("/images/{name:.*}/push", s.imagePush)
	rt.del("/images/{name:.*}", s.imageDelete)
	rt.get("/distribution/{name:.*}/json", s.distributionInspect)
}

// distributionInspect answers what the registry has for a name (docker
// manifest inspect, docker service create's image resolution), without
// pulling.
func (s *Server) distributionInspect(ctx context.Context, w http.ResponseWriter, r *http.Request, v map[string]string) error {
	res, err := s.be.Images.DistributionInspect(ctx, v["name"], r.Header.Get("X-Registry-Auth"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}

// notImplemented answers routes of features that come in later issues.
func notImplemented(what string) handlerFunc {
	return func(context.Context, http.ResponseWriter, *http.Request, map[string]string) error {
		return errdefs.NotImplemented(fmt.Errorf("%s is not implemented by berthd yet", what))
	}
}

func (s *Server) imageList(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	all, err := boolValue(r, "all")
	if err != nil {
		return err
	}
	shared, err := boolValue(r, "shared-size")
	if err != nil {
		return err
	}
	f, err := filterArgs(r)
	if err != nil {
		return err
	}
	list, err := s.be.Images.ImageList(ctx, engine.ImageListOptions{All: all, SharedSize: shared, Filters: f})
	if err != nil {
		return err
	}
	if list == nil {
		list = []image.Summary{}
	}
	return writeJSON(w, http.StatusOK, adaptImageList(ctx, list))
}

func (s *Server) imageInspect(ctx context.Context, w http.ResponseWriter, _ *http.Request, v map[string]string) error {
	img, err := s.be.Images.ImageInspect(ctx, v["name"])
	if err != nil {
		return err
	}
	out, err := adaptImageInspect(ctx, img, s.imageParent(ctx, img.ID))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

// imageParent is the ID of the image id was built on, "" for none: the
// list knows it, the inspect type does not.
func (s *Server) imageParent(ctx context.Context, id string) string {
	list, err := s.be.Images.ImageList(ctx, engine.ImageListOptions{All: true})
	if err != nil {
		return ""
	}
	for _, im := range list {
		if im.ID == id {
			return im.ParentID
		}
	}
	return ""
}

func (s *Server) imageHistory(ctx context.Context, w http.ResponseWriter, _ *http.Request, v map[string]string) error {
	h, err := s.be.Images.ImageHistory(ctx, v["name"])
	if err != nil {
		return err
	}
	if h == nil {
		h = []image.HistoryResponseItem{}
	}
	return writeJSON(w, http.StatusOK, h)
}

func (s *Server) imageTag(ctx context.Context, w http.ResponseWriter, r *http.Request, v map[string]string) error {
	q := r.URL.Query()
	if err := s.be.Images.ImageTag(ctx, v["name"], q.Get("repo"), q.Get("tag")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (s *Server) imageDelete(ctx context.Context, w http.ResponseWriter, r *http.Request, v map[string]string) error {
	force, err := boolValue(r, "force")
	if err != nil {
		return err
	}
	noPrune, err := boolValue(r, "noprune")
	if err != nil {
		return err
	}
	resp, err := s.be.Images.ImageDelete(ctx, v["name"], force, noPrune)
	if err != nil {
		return err
	}
	if resp == nil {
		resp = []image.DeleteResponse{}
	}
	return writeJSON(w, http.StatusOK, resp)
}

func (s *Server) imagesPrune(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	f, err := filterArgs(r)
	if err != nil {
		return err
	}
	rep, err := s.be.Images.ImagesPrune(ctx, f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rep)
}

// progressStream runs fn with a JSON-lines writer on w. Until fn writes, an
// error is an ordinary HTTP error; afterwards the 200 is gone, so it goes
// into the stream as an errorDetail message.
func progressStream(w http.ResponseWriter, fn func(*jsonstream.Writer) error) error {
	return progressStreamVia(w, w, fn)
}

// progressStreamVia is progressStream with the lines written through dst,
// a filter in front of w (a build's stream leaves out aux messages for old
// clients); the error message goes through it too.
func progressStreamVia(w http.ResponseWriter, dst io.Writer, fn func(*jsonstream.Writer) error) error {
	w.Header().Set("Content-Type", "application/json")
	js := jsonstream.NewWriter(dst)
	err := fn(js)
	if err == nil {
		if rw, ok := w.(*respWriter); ok && !rw.started {
			w.WriteHeader(http.StatusOK)
		}
		return nil
	}
	if rw, ok := w.(*respWriter); ok && !rw.started {
		return err
	}
	// A RUN step's failure carries its exit code, as dockerd's JSONError
	// does, for the docker CLI to exit with.
	msg := jsonstream.Message{Error: &jsonstream.ErrorDetail{Message: err.Error()}, ErrorMessage: err.Error()}
	var ee *engine.ExitError
	if errors.As(err, &ee) {
		msg.Error.Code = ee.Code
	}
	return js.WriteMessage(msg)
}

// imageCreate is pull (fromImage) or import (fromSrc).
func (s *Server) imageCreate(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	q := r.URL.Query()
	if img := q.Get("fromImage"); img != "" {
		auth := r.Header.Get("X-Registry-Auth")
		return progressStream(w, func(js *jsonstream.Writer) error {
			return s.be.Images.ImagePull(ctx, img, q.Get("tag"), q.Get("platform"), auth, js)
		})
	}
	if q.Get("fromSrc") == "" {
		return errdefs.Invalidf("either fromSrc or fromImage must be given")
	}
	opts := engine.ImageImportOptions{
		Source:   q.Get("fromSrc"),
		Repo:     q.Get("repo"),
		Tag:      q.Get("tag"),
		Changes:  q["changes"],
		Message:  q.Get("message"),
		Platform: q.Get("platform"),
	}
	return progressStream(w, func(js *jsonstream.Writer) error {
		_, err := s.be.Images.ImageImport(ctx, opts, r.Body, js)
		return err
	})
}

// imagePush streams a push's progress; an empty tag pushes every tag.
func (s *Server) imagePush(ctx context.Context, w http.ResponseWriter, r *http.Request, v map[string]string) error {
	auth := r.Header.Get("X-Registry-Auth")
	return progressStream(w, func(js *jsonstream.Writer) error {
		return s.be.Images.ImagePush(ctx, v["name"], r.URL.Query().Get("tag"), auth, js)
	})
}

func (s *Server) imageLoad(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	quiet, err := boolValue(r, "quiet")
	if err != nil {
		return err
	}
	// dockerd answers 200 before it reads the archive: every failure of a
	// load, a bad archive included, is the stream's error line (the CLI
	// prints it without "Error response from daemon", docker-py raises
	// ImageLoadError instead of APIError).
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	js := jsonstream.NewWriter(w)
	return js.Error(s.be.Images.ImageLoad(ctx, r.Body, quiet, js))
}

func (s *Server) imageSaveMany(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	return s.imageSave(ctx, w, r.URL.Query()["names"])
}

func (s *Server) imageSaveOne(ctx context.Context, w http.ResponseWriter, _ *http.Request, v map[string]string) error {
	return s.imageSave(ctx, w, []string{v["name"]})
}

func (s *Server) imageSave(ctx context.Context, w http.ResponseWriter, names []string) error {
	if len(names) == 0 {
		return errdefs.Invalidf("no image names given")
	}
	w.Header().Set("Content-Type", "application/x-tar")
	return s.be.Images.ImageSave(ctx, names, w)
}

func (s *Server) imageSearch(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	limit, err := intValue(r, "limit", 0)
	if err != nil || limit < 0 {
		return errdefs.Invalidf("invalid limit specified")
	}
	f, err := filterArgs(r)
	if err != nil {
		return err
	}
	res, err := s.be.Images.ImageSearch(ctx, r.URL.Query().Get("term"), limit, f, r.Header.Get("X-Registry-Auth"))
	if err != nil {
		return err
	}
	if res == nil {
		res = []registry.SearchResult{}
	}
	return writeJSON(w, http.StatusOK, res)
}
