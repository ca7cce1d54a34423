package compose

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/container"
)

// Containers lists the project's service containers (of services, when
// given); all includes stopped ones, oneoff includes `run` containers.
func (s *Service) Containers(ctx context.Context, project string, services []string, all, oneoff bool) ([]container.Summary, error) {
	labels := []string{LabelProject + "=" + project}
	if !oneoff {
		labels = append(labels, LabelOneoff+"=False")
	}
	list, err := s.e.containers(ctx, all, labels...)
	if err != nil {
		return nil, err
	}
	return FilterServices(list, services), nil
}

// ServiceContainer finds container index (1-based) of service, running
// unless all, for exec, port and the like.
func (s *Service) ServiceContainer(ctx context.Context, project, service string, index int, all bool) (container.Summary, error) {
	list, err := s.Containers(ctx, project, []string{service}, all, false)
	if err != nil {
		return container.Summary{}, err
	}
	for _, c := range list {
		if number(c) == index {
			return c, nil
		}
	}
	if index == 1 && len(list) > 0 {
		return list[0], nil
	}
	if len(list) == 0 {
		return container.Summary{}, fmt.Errorf("service %q is not running", service)
	}
	return container.Summary{}, fmt.Errorf("service %q is not running container #%d", service, index)
}

// ProjectSummary is one row of `compose ls`.
type ProjectSummary struct {
	Name        string
	Status      string
	ConfigFiles string
}

// Projects lists the projects that have containers (running ones unless all).
func (s *Service) Projects(ctx context.Context, all bool) ([]ProjectSummary, error) {
	list, err := s.e.containers(ctx, all, LabelProject)
	if err != nil {
		return nil, err
	}
	byName := map[string][]container.Summary{}
	for _, c := range list {
		n := c.Labels[LabelProject]
		byName[n] = append(byName[n], c)
	}
	var out []ProjectSummary
	for n, cs := range byName {
		states := map[string]int{}
		files := ""
		for _, c := range cs {
			states[string(c.State)]++
			if files == "" {
				files = c.Labels[LabelConfigFiles]
			}
		}
		var parts []string
		for _, st := range sortedKeysInt(states) {
			parts = append(parts, fmt.Sprintf("%s(%d)", st, states[st]))
		}
		out = append(out, ProjectSummary{Name: n, Status: strings.Join(parts, ", "), ConfigFiles: files})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func sortedKeysInt(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Start starts the stopped containers of the services, in dependency order.
func (s *Service) Start(ctx context.Context, p *types.Project, services []string) error {
	sel, err := selectServices(p, services, true)
	if err != nil {
		return err
	}
	for _, svc := range dependencyOrder(sel) {
		list, err := s.Containers(ctx, p.Name, []string{svc}, true, false)
		if err != nil {
			return err
		}
		for _, c := range list {
			if err := s.startOne(ctx, c.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

// dependencyOrder lists p's services so that dependencies come first.
func dependencyOrder(p *types.Project) []string {
	var out []string
	seen := map[string]bool{}
	var visit func(string)
	visit = func(n string) {
		if seen[n] {
			return
		}
		seen[n] = true
		deps := p.Services[n].GetDependencies()
		sort.Strings(deps)
		for _, d := range deps {
			if _, ok := p.Services[d]; ok {
				visit(d)
			}
		}
		out = append(out, n)
	}
	for _, n := range p.ServiceNames() {
		visit(n)
	}
	return out
}

// Action is a container verb posted to each container: stop, restart,
// kill, pause, unpause.
type Action struct {
	Verb    string // stop, restart, kill, pause or unpause
	Timeout *int   // stop and restart: nil is the container's own
	Signal  string // kill: "" is SIGKILL
	Done    string // "Stopped", "Restarted", ...
	Reverse bool   // dependents first (stop, kill)
}

// Each posts a to every running container of the services (in dependency
// order, or its reverse).
func (s *Service) Each(ctx context.Context, p *types.Project, project string, services []string, a Action) error {
	order := services
	if p != nil {
		order = dependencyOrder(p)
		if len(services) > 0 {
			order = intersect(order, services)
		}
		if a.Reverse {
			for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
				order[i], order[j] = order[j], order[i]
			}
		}
	}
	all := a.Verb == "restart" || a.Verb == "unpause"
	list, err := s.Containers(ctx, project, nil, all, false)
	if err != nil {
		return err
	}
	byService := map[string][]container.Summary{}
	for _, c := range list {
		byService[c.Labels[LabelService]] = append(byService[c.Labels[LabelService]], c)
	}
	if len(order) == 0 {
		order = sortedKeysSlice(byService)
	}
	for _, svc := range order {
		for _, c := range byService[svc] {
			if err := s.e.act(ctx, c.ID, a); err != nil {
				return fmt.Errorf("%s %s: %w", a.Verb, name(c), err)
			}
			s.event("Container", name(c), a.Done)
		}
	}
	return nil
}

func intersect(order, want []string) []string {
	w := map[string]bool{}
	for _, x := range want {
		w[x] = true
	}
	var out []string
	for _, x := range order {
		if w[x] {
			out = append(out, x)
		}
	}
	return out
}

func sortedKeysSlice(m map[string][]container.Summary) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Remove removes the stopped containers of the services (all of them, even
// running, with stop); volumes removes their anonymous volumes.
func (s *Service) Remove(ctx context.Context, project string, services []string, stop, volumes bool, timeout *int) ([]container.Summary, error) {
	list, err := s.Containers(ctx, project, services, true, false)
	if err != nil {
		return nil, err
	}
	var gone []container.Summary
	for _, c := range list {
		if c.State == container.StateRunning || c.State == container.StatePaused || c.State == container.StateRestarting {
			if !stop {
				continue
			}
			if err := s.e.stop(ctx, c.ID, timeout); err != nil {
				return nil, err
			}
		}
		gone = append(gone, c)
	}
	return gone, s.removeAll(ctx, gone, timeout, volumes)
}

// Pull pulls the images of the services that name one.
func (s *Service) Pull(ctx context.Context, p *types.Project, services []string, ignoreFailures bool) error {
	sel, err := selectServices(p, services, true)
	if err != nil {
		return err
	}
	for _, n := range sel.ServiceNames() {
		svc := sel.Services[n]
		if svc.Image == "" {
			continue
		}
		s.event("Image", svc.Image, "Pulling")
		if err := s.pull(ctx, svc.Image); err != nil {
			if ignoreFailures {
				s.event("Image", svc.Image, "Error "+err.Error())
				continue
			}
			return fmt.Errorf("service %q: failed to pull image %s: %w", n, svc.Image, err)
		}
		s.event("Image", svc.Image, "Pulled")
	}
	return nil
}

// Push pushes the images of the services that have both image and build.
func (s *Service) Push(ctx context.Context, p *types.Project, services []string, ignoreFailures bool) error {
	sel, err := selectServices(p, services, true)
	if err != nil {
		return err
	}
	for _, n := range sel.ServiceNames() {
		svc := sel.Services[n]
		if svc.Image == "" || svc.Build == nil {
			continue
		}
		name, tag := splitRef(svc.Image)
		s.event("Image", svc.Image, "Pushing")
		err := s.push(ctx, name, tag, svc.Image)
		if err != nil && !ignoreFailures {
			return fmt.Errorf("service %q: failed to push %s: %w", n, svc.Image, err)
		}
		if err == nil {
			s.event("Image", svc.Image, "Pushed")
		}
	}
	return nil
}

// ImageRow is one row of `compose images`.
type ImageRow struct {
	Container, Repository, Tag, ID string
	Size                           int64
}

// Images lists the images the project's containers use.
func (s *Service) Images(ctx context.Context, project string, services []string) ([]ImageRow, error) {
	list, err := s.Containers(ctx, project, services, true, false)
	if err != nil {
		return nil, err
	}
	var out []ImageRow
	for _, c := range list {
		img, err := s.e.c.ImageInspect(ctx, c.ImageID)
		if err != nil {
			return nil, err
		}
		repo, tag := splitRef(c.Image)
		for _, rt := range img.RepoTags {
			if strings.HasPrefix(rt, repo+":") || rt == c.Image {
				repo, tag = splitRef(rt)
				break
			}
		}
		id := strings.TrimPrefix(img.ID, "sha256:")
		if len(id) > 12 {
			id = id[:12]
		}
		out = append(out, ImageRow{Container: name(c), Repository: repo, Tag: tag, ID: id, Size: img.Size})
	}
	return out, nil
}

// ParseIndex reads --index (1 when unset).
func ParseIndex(s string) (int, error) {
	if s == "" {
		return 1, nil
	}
	return strconv.Atoi(s)
}
