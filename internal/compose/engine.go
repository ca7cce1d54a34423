// Package compose implements Docker Compose (v2 semantics) as a client of the
// Engine API: it loads a project with compose-go, turns services into
// container create requests labelled like Compose, and converges the engine
// towards the project (create, recreate only what changed, scale, remove).
// It talks to the daemon only through internal/client, so it works against
// berthd and a real dockerd alike.
package compose

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/berth-project/berth/internal/client"
	"github.com/berth-project/berth/internal/jsonstream"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/volume"
)

// Labels Compose puts on what it creates; docker compose and docker-compose
// v1 find a project's resources by them.
const (
	LabelProject     = "com.docker.compose.project"
	LabelService     = "com.docker.compose.service"
	LabelNumber      = "com.docker.compose.container-number"
	LabelOneoff      = "com.docker.compose.oneoff"
	LabelConfigHash  = "com.docker.compose.config-hash"
	LabelWorkingDir  = "com.docker.compose.project.working_dir"
	LabelConfigFiles = "com.docker.compose.project.config_files"
	LabelVersion     = "com.docker.compose.version"
	LabelNetwork     = "com.docker.compose.network"
	LabelVolume      = "com.docker.compose.volume"
	LabelDependsOn   = "com.docker.compose.depends_on"
	LabelImage       = "com.docker.compose.image"
	LabelReplace     = "com.docker.compose.replace"
)

// ComposeVersion is what we write in com.docker.compose.version and print in
// `compose version`: the Compose behaviour this package follows.
const ComposeVersion = "2.29.0"

// engine is the API client (c, called directly for plain calls) with the
// few calls where Compose means more than the endpoint: its containers
// sorted by service and number, a start or stop already done and a
// resource already gone are no errors.
type engine struct {
	c *client.Client
}

// containers lists the containers carrying every label in labels
// ("key=value" or "key"); all includes stopped ones.
func (e *engine) containers(ctx context.Context, all bool, labels ...string) ([]container.Summary, error) {
	list, err := e.c.ContainerList(ctx, client.ContainerListOptions{All: all, Filters: client.Filters{"label": labels}})
	if err != nil {
		return nil, err
	}
	sort.Slice(list, func(i, j int) bool {
		a, b := list[i].Labels, list[j].Labels
		if a[LabelService] != b[LabelService] {
			return a[LabelService] < b[LabelService]
		}
		return number(list[i]) < number(list[j])
	})
	return list, nil
}

// number is the container-number label as an int (0 when absent).
func number(c container.Summary) int {
	n, _ := strconv.Atoi(c.Labels[LabelNumber])
	return n
}

// name is the container's name without the leading slash.
func name(c container.Summary) string {
	if len(c.Names) == 0 {
		return c.ID[:12]
	}
	// Linked containers show up as /other/alias; the canonical one has no
	// second slash.
	for _, n := range c.Names {
		if strings.Count(n, "/") == 1 {
			return strings.TrimPrefix(n, "/")
		}
	}
	return strings.TrimPrefix(c.Names[0], "/")
}

func (e *engine) create(ctx context.Context, nm string, req *container.CreateRequest) (string, error) {
	resp, err := e.c.ContainerCreate(ctx, nm, req)
	if err != nil {
		return "", err
	}
	return resp.ID, nil
}

func (e *engine) start(ctx context.Context, id string) error {
	err := e.c.ContainerStart(ctx, id)
	if client.StatusOf(err) == http.StatusNotModified {
		return nil
	}
	return err
}

// stop stops id; timeout nil means the container's own stop timeout.
func (e *engine) stop(ctx context.Context, id string, timeout *int) error {
	err := e.c.ContainerStop(ctx, id, client.StopOptions{Timeout: timeout})
	if client.StatusOf(err) == http.StatusNotModified {
		return nil
	}
	return err
}

func (e *engine) remove(ctx context.Context, id string, force, volumes bool) error {
	err := e.c.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: force, RemoveVolumes: volumes})
	if client.StatusOf(err) == http.StatusNotFound {
		return nil
	}
	return err
}

// act runs a's verb on container id through its typed call.
func (e *engine) act(ctx context.Context, id string, a Action) error {
	switch a.Verb {
	case "stop":
		return e.c.ContainerStop(ctx, id, client.StopOptions{Timeout: a.Timeout})
	case "restart":
		return e.c.ContainerRestart(ctx, id, client.StopOptions{Timeout: a.Timeout})
	case "kill":
		return e.c.ContainerKill(ctx, id, a.Signal)
	case "pause":
		return e.c.ContainerPause(ctx, id)
	case "unpause":
		return e.c.ContainerUnpause(ctx, id)
	}
	return fmt.Errorf("unknown container action %q", a.Verb)
}

func (e *engine) networks(ctx context.Context, labels ...string) ([]network.Summary, error) {
	return e.c.NetworkList(ctx, client.Filters{"label": labels})
}

func (e *engine) networkCreate(ctx context.Context, req network.CreateRequest) error {
	_, err := e.c.NetworkCreate(ctx, req)
	return err
}

// networkRemove is NetworkRemove where a network already gone is no error.
func (e *engine) networkRemove(ctx context.Context, nm string) error {
	err := e.c.NetworkRemove(ctx, nm)
	if client.StatusOf(err) == http.StatusNotFound {
		return nil
	}
	return err
}

func (e *engine) networkConnect(ctx context.Context, nm, id string, ep *network.EndpointSettings) error {
	return e.c.NetworkConnect(ctx, nm, network.ConnectRequest{Container: id, EndpointConfig: ep})
}

func (e *engine) volumes(ctx context.Context, labels ...string) ([]volume.Volume, error) {
	list, err := e.c.VolumeList(ctx, client.Filters{"label": labels})
	return list.Volumes, err
}

func (e *engine) volumeCreate(ctx context.Context, req volume.CreateRequest) error {
	_, err := e.c.VolumeCreate(ctx, req)
	return err
}

// volumeRemove is VolumeRemove where a volume already gone is no error.
func (e *engine) volumeRemove(ctx context.Context, nm string) error {
	err := e.c.VolumeRemove(ctx, nm, false)
	if client.StatusOf(err) == http.StatusNotFound {
		return nil
	}
	return err
}

// imageExists reports whether ref is in the daemon's image store.
func (e *engine) imageExists(ctx context.Context, ref string) (bool, error) {
	_, err := e.c.ImageInspect(ctx, ref)
	switch client.StatusOf(err) {
	case 0:
		return err == nil, err
	case http.StatusNotFound:
		return false, nil
	}
	return false, err
}

// imageID is ref's image ID, or "" when the engine does not have it.
func (e *engine) imageID(ctx context.Context, ref string) string {
	img, err := e.c.ImageInspect(ctx, ref)
	if err != nil {
		return ""
	}
	return img.ID
}

func (e *engine) imageRemove(ctx context.Context, ref string) error {
	_, err := e.c.ImageRemove(ctx, ref, client.ImageRemoveOptions{})
	if client.StatusOf(err) == http.StatusNotFound {
		return nil
	}
	return err
}

// streamErr reads a JSON message stream (pull, push, build) and returns the
// first error in it; stream text and status lines go to progress when
// non-nil.
func streamErr(r io.Reader, progress func(status string)) error {
	return jsonstream.Decode(r, func(m jsonstream.Message) error {
		switch {
		case progress == nil:
		case m.Stream != "":
			progress(m.Stream)
		case m.Status != "":
			progress(strings.TrimSpace(m.ID+" "+m.Status) + "\n")
		}
		return nil
	})
}
