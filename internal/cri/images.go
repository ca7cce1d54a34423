package cri

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/berth-project/berth/internal/engine"
	"github.com/berth-project/berth/internal/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/image"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ListImages lists the engine's images (those `berth build`, load and pull
// made too), optionally those matching one image reference.
func (s *Server) ListImages(ctx context.Context, req *runtimeapi.ListImagesRequest) (*runtimeapi.ListImagesResponse, error) {
	want := req.GetFilter().GetImage().GetImage()
	var wantID string
	if want != "" {
		img, err := s.eng.ImageInspect(ctx, want)
		if err != nil {
			if errdefs.IsNotFound(err) {
				return &runtimeapi.ListImagesResponse{}, nil
			}
			return nil, grpcError(err)
		}
		wantID = img.ID
	}
	list, err := s.eng.ImageList(ctx, engine.ImageListOptions{})
	if err != nil {
		return nil, grpcError(err)
	}
	resp := &runtimeapi.ListImagesResponse{}
	for _, im := range list {
		if wantID != "" && im.ID != wantID {
			continue
		}
		ci := &runtimeapi.Image{Id: im.ID, RepoTags: nonNil(im.RepoTags), RepoDigests: nonNil(im.RepoDigests), Size: uint64(max(im.Size, 0))}
		if inspect, err := s.eng.ImageInspect(ctx, im.ID); err == nil {
			setImageUser(ci, inspect)
		}
		resp.Images = append(resp.Images, ci)
	}
	return resp, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ImageStatus answers an empty response (no error) for an unknown image,
// as the CRI asks.
func (s *Server) ImageStatus(ctx context.Context, req *runtimeapi.ImageStatusRequest) (*runtimeapi.ImageStatusResponse, error) {
	ref := req.GetImage().GetImage()
	if ref == "" {
		return nil, invalidf("image.image: an image reference is required")
	}
	img, err := s.eng.ImageInspect(ctx, ref)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return &runtimeapi.ImageStatusResponse{}, nil
		}
		return nil, grpcError(err)
	}
	ci := &runtimeapi.Image{Id: img.ID, RepoTags: nonNil(img.RepoTags), RepoDigests: nonNil(img.RepoDigests), Size: uint64(max(img.Size, 0)), Spec: &runtimeapi.ImageSpec{Image: img.ID}}
	setImageUser(ci, img)
	resp := &runtimeapi.ImageStatusResponse{Image: ci}
	if req.GetVerbose() {
		b, _ := json.Marshal(img)
		resp.Info = map[string]string{"info": string(b)}
	}
	return resp, nil
}

// setImageUser fills Uid (numeric user) or Username from the image config,
// which the kubelet checks for runAsNonRoot.
func setImageUser(ci *runtimeapi.Image, img *image.InspectResponse) {
	if img.Config == nil || img.Config.User == "" {
		ci.Uid = &runtimeapi.Int64Value{Value: 0}
		return
	}
	user, _, _ := strings.Cut(img.Config.User, ":")
	if uid, err := strconv.ParseInt(user, 10, 64); err == nil {
		ci.Uid = &runtimeapi.Int64Value{Value: uid}
		return
	}
	ci.Username = user
}

// PullImage pulls through the engine's distribution code, so the daemon's
// mirrors and insecure registries apply; credentials come from the
// request's AuthConfig.
func (s *Server) PullImage(ctx context.Context, req *runtimeapi.PullImageRequest) (*runtimeapi.PullImageResponse, error) {
	ref := req.GetImage().GetImage()
	if ref == "" {
		return nil, invalidf("image.image: an image reference is required")
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return nil, invalidf("image.image: invalid reference %q: %v", ref, err)
	}
	named = reference.TagNameOnly(named)
	auth, err := encodeAuth(req.GetAuth())
	if err != nil {
		return nil, grpcError(err)
	}
	if err := s.eng.ImagePull(ctx, named.String(), "", "", auth, io.Discard); err != nil {
		if ctx.Err() != nil {
			// The caller's deadline passed: say so, whatever the pull's
			// own error (a failed lookup races a 1 ms deadline).
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		return nil, grpcError(err)
	}
	img, err := s.eng.ImageInspect(ctx, named.String())
	if err != nil {
		return nil, grpcError(err)
	}
	return &runtimeapi.PullImageResponse{ImageRef: img.ID}, nil
}

// encodeAuth turns the CRI AuthConfig into the engine's X-Registry-Auth form.
func encodeAuth(a *runtimeapi.AuthConfig) (string, error) {
	if a == nil {
		return "", nil
	}
	b, err := json.Marshal(map[string]string{
		"username": a.Username, "password": a.Password, "auth": a.Auth,
		"serveraddress": a.ServerAddress, "identitytoken": a.IdentityToken, "registrytoken": a.RegistryToken,
	})
	if err != nil {
		return "", err
	}
	return base64.URLEncoding.EncodeToString(b), nil
}

// RemoveImage removes the image with every tag it has; an unknown image is
// not an error (the call is idempotent).
func (s *Server) RemoveImage(ctx context.Context, req *runtimeapi.RemoveImageRequest) (*runtimeapi.RemoveImageResponse, error) {
	ref := req.GetImage().GetImage()
	if ref == "" {
		return nil, invalidf("image.image: an image reference is required")
	}
	img, err := s.eng.ImageInspect(ctx, ref)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return &runtimeapi.RemoveImageResponse{}, nil
		}
		return nil, grpcError(err)
	}
	if _, err := s.eng.ImageDelete(ctx, img.ID, true, false); err != nil && !errdefs.IsNotFound(err) {
		return nil, grpcError(err)
	}
	return &runtimeapi.RemoveImageResponse{}, nil
}

// ImageFsInfo reports the layers' size and the data root's filesystem.
func (s *Server) ImageFsInfo(ctx context.Context, req *runtimeapi.ImageFsInfoRequest) (*runtimeapi.ImageFsInfoResponse, error) {
	du, err := s.eng.DiskUsage(ctx)
	if err != nil {
		return nil, grpcError(err)
	}
	fs := &runtimeapi.FilesystemUsage{
		Timestamp:  time.Now().UnixNano(),
		FsId:       &runtimeapi.FilesystemIdentifier{Mountpoint: s.opts.DataRoot},
		UsedBytes:  &runtimeapi.UInt64Value{Value: uint64(max(du.LayersSize, 0))},
		InodesUsed: &runtimeapi.UInt64Value{},
	}
	var st unix.Statfs_t
	if unix.Statfs(s.opts.DataRoot, &st) == nil {
		fs.InodesUsed.Value = st.Files - st.Ffree
	}
	return &runtimeapi.ImageFsInfoResponse{ImageFilesystems: []*runtimeapi.FilesystemUsage{fs}, ContainerFilesystems: []*runtimeapi.FilesystemUsage{fs}}, nil
}
