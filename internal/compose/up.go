package compose

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/graph"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/container"
)

// UpOptions are `compose up`'s and `compose create`'s options.
type UpOptions struct {
	Services      []string
	NoDeps        bool
	ForceRecreate bool
	NoRecreate    bool
	RemoveOrphans bool
	Scale         map[string]int
	Timeout       *int // stop timeout for recreated/removed containers
	Build         bool
	NoBuild       bool
	NoStart       bool // `compose create`
	// WaitTimeout bounds depends_on conditions (0: 10 minutes).
	WaitTimeout time.Duration
}

// Up creates what the project needs and converges every selected service's
// containers, in dependency order, starting them unless NoStart. It returns
// the selected services' containers.
func (s *Service) Up(ctx context.Context, p *types.Project, o UpOptions) ([]container.Summary, error) {
	if err := s.orphans(ctx, p, o.RemoveOrphans, o.Timeout); err != nil {
		return nil, err
	}
	sel, err := selectServices(p, o.Services, o.NoDeps)
	if err != nil {
		return nil, err
	}
	for name, n := range o.Scale {
		svc, ok := sel.Services[name]
		if !ok {
			return nil, noSuchService(name)
		}
		svc.SetScale(n)
		sel.Services[name] = svc
	}
	if err := s.ensureImages(ctx, sel, o.Build, o.NoBuild); err != nil {
		return nil, err
	}
	if err := s.ensureNetworks(ctx, sel); err != nil {
		return nil, err
	}
	if err := s.ensureVolumes(ctx, sel); err != nil {
		return nil, err
	}
	err = graph.InDependencyOrder(ctx, sel, func(ctx context.Context, name string, svc types.ServiceConfig) error {
		if err := s.waitDependencies(ctx, sel, svc, o); err != nil {
			return err
		}
		ids, err := s.converge(ctx, sel, svc, o)
		if err != nil || o.NoStart {
			return err
		}
		for _, id := range ids {
			if err := s.startOne(ctx, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.e.containers(ctx, true, LabelProject+"="+p.Name, LabelOneoff+"=False")
}

// selectServices narrows p to names (and their dependencies unless noDeps).
func selectServices(p *types.Project, names []string, noDeps bool) (*types.Project, error) {
	if len(names) == 0 {
		return p, nil
	}
	for _, n := range names {
		if _, ok := p.Services[n]; !ok {
			return nil, noSuchService(n)
		}
	}
	if noDeps {
		return p.WithSelectedServices(names, types.IgnoreDependencies)
	}
	return p.WithSelectedServices(names)
}

// orphans removes (or warns about) containers of services the project no
// longer has.
func (s *Service) orphans(ctx context.Context, p *types.Project, remove bool, timeout *int) error {
	list, err := s.e.containers(ctx, true, LabelProject+"="+p.Name, LabelOneoff+"=False")
	if err != nil {
		return err
	}
	known := map[string]bool{}
	for _, n := range append(p.ServiceNames(), p.DisabledServiceNames()...) {
		known[n] = true
	}
	var names []string
	for _, c := range list {
		if known[c.Labels[LabelService]] {
			continue
		}
		if !remove {
			names = append(names, name(c))
			continue
		}
		if err := s.stopRemove(ctx, c, timeout, true); err != nil {
			return err
		}
	}
	if len(names) > 0 && s.Progress != nil {
		fmt.Fprintf(s.Progress, "WARN[0000] Found orphan containers (%s) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.\n", strings.Join(names, ", "))
	}
	return nil
}

func (s *Service) stopRemove(ctx context.Context, c container.Summary, timeout *int, volumes bool) error {
	if c.State == container.StateRunning || c.State == container.StatePaused || c.State == container.StateRestarting {
		s.event("Container", name(c), "Stopping")
		if err := s.e.stop(ctx, c.ID, timeout); err != nil {
			return err
		}
		s.event("Container", name(c), "Stopped")
	}
	s.event("Container", name(c), "Removing")
	if err := s.e.remove(ctx, c.ID, true, volumes); err != nil {
		return err
	}
	s.event("Container", name(c), "Removed")
	if volumes {
		s.removeInherited(ctx, c)
	}
	return nil
}

// removeInherited removes the anonymous volumes a recreated container took
// over from its predecessor: they are mounted by name, so the engine's
// rm -v keeps them, but nothing else will ever use them.
func (s *Service) removeInherited(ctx context.Context, c container.Summary) {
	for _, m := range c.Mounts {
		if m.Type != "volume" || !anonymousName(m.Name) {
			continue
		}
		_ = s.e.volumeRemove(ctx, m.Name) // still in use elsewhere: keep it
	}
}

// anonymousName reports whether a volume name is an engine-generated one
// (64 hex digits).
func anonymousName(n string) bool {
	if len(n) != 64 {
		return false
	}
	for _, r := range n {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return true
}

// converge makes the service's containers match its configuration and
// scale: matching ones are kept, changed ones recreated, extra ones removed,
// missing ones created. It returns the IDs to start.
func (s *Service) converge(ctx context.Context, p *types.Project, svc types.ServiceConfig, o UpOptions) ([]string, error) {
	hash, err := ServiceHash(svc)
	if err != nil {
		return nil, err
	}
	existing, err := s.e.containers(ctx, true, LabelProject+"="+p.Name, LabelService+"="+svc.Name, LabelOneoff+"=False")
	if err != nil {
		return nil, err
	}
	// A rebuilt or re-pulled image recreates the containers too.
	imageID := s.e.imageID(ctx, ImageName(p, svc))
	scale := svc.GetScale()
	if svc.ContainerName != "" && scale > 1 {
		return nil, fmt.Errorf("service %q: container_name %q cannot be used with scale %d", svc.Name, svc.ContainerName, scale)
	}
	var ids []string
	used := map[int]bool{}
	for i, c := range existing {
		if i >= scale {
			// Scaled-down containers take their anonymous volumes along:
			// nothing would ever reuse them.
			if err := s.stopRemove(ctx, c, o.Timeout, true); err != nil {
				return nil, err
			}
			continue
		}
		changed := c.Labels[LabelConfigHash] != hash || (imageID != "" && c.ImageID != "" && c.ImageID != imageID)
		recreate := !o.NoRecreate && (o.ForceRecreate || changed)
		if !recreate {
			used[number(c)] = true
			s.event("Container", name(c), "Running")
			ids = append(ids, c.ID)
			continue
		}
		n := number(c)
		if n == 0 || used[n] {
			n = nextNumber(used)
		}
		used[n] = true
		id, err := s.recreate(ctx, p, svc, c, n, hash, o.Timeout)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	for len(ids) < scale {
		n := nextNumber(used)
		used[n] = true
		id, err := s.createOne(ctx, p, svc, n, hash, nil)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func nextNumber(used map[int]bool) int {
	for n := 1; ; n++ {
		if !used[n] {
			return n
		}
	}
}

// recreate replaces old with a container made from the current config,
// keeping old's anonymous volumes as Compose does.
func (s *Service) recreate(ctx context.Context, p *types.Project, svc types.ServiceConfig, old container.Summary, n int, hash string, timeout *int) (string, error) {
	s.event("Container", name(old), "Recreate")
	info, err := s.e.c.ContainerInspect(ctx, old.ID)
	if err != nil {
		return "", err
	}
	anon := anonymousVolumes(svc)
	var keep []string
	for _, m := range info.Mounts {
		if _, ok := anon[m.Destination]; ok && m.Type == "volume" && m.Name != "" {
			keep = append(keep, m.Name+":"+m.Destination)
		}
	}
	if err := s.e.stop(ctx, old.ID, timeout); err != nil {
		return "", err
	}
	if err := s.e.remove(ctx, old.ID, true, false); err != nil {
		return "", err
	}
	return s.createOne(ctx, p, svc, n, hash, keep)
}

// createOne creates container n of svc and connects its extra networks.
func (s *Service) createOne(ctx context.Context, p *types.Project, svc types.ServiceConfig, n int, hash string, binds []string) (id string, err error) {
	spec, err := buildSpec(p, svc, n, false, hash, s.resolver(ctx, p))
	if err != nil {
		return "", err
	}
	spec.req.HostConfig.Binds = append(spec.req.HostConfig.Binds, binds...)
	s.event("Container", spec.name, "Creating")
	id, err = s.createSpec(ctx, spec)
	if err != nil {
		return "", err
	}
	s.event("Container", spec.name, "Created")
	return id, nil
}

// createSpec creates the container and connects its other networks; a
// failed connect removes the container so nothing half-made is left.
func (s *Service) createSpec(ctx context.Context, spec *createSpec) (string, error) {
	id, err := s.e.create(ctx, spec.name, &spec.req)
	if err != nil {
		return "", fmt.Errorf("create container %s: %w", spec.name, err)
	}
	names := make([]string, 0, len(spec.extra))
	for n := range spec.extra {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := s.e.networkConnect(ctx, n, id, spec.extra[n]); err != nil {
			_ = s.e.remove(context.WithoutCancel(ctx), id, true, true)
			return "", fmt.Errorf("connect %s to network %s: %w", spec.name, n, err)
		}
	}
	return id, nil
}

// resolver finds the container names of another service of the project.
func (s *Service) resolver(ctx context.Context, p *types.Project) resolver {
	return func(service string) []string {
		list, err := s.e.containers(ctx, true, LabelProject+"="+p.Name, LabelService+"="+service, LabelOneoff+"=False")
		if err != nil {
			return nil
		}
		var out []string
		for _, c := range list {
			out = append(out, name(c))
		}
		return out
	}
}

func (s *Service) startOne(ctx context.Context, id string) error {
	info, err := s.e.c.ContainerInspect(ctx, id)
	if err != nil {
		return err
	}
	nm := strings.TrimPrefix(info.Name, "/")
	if info.State != nil && info.State.Running {
		return nil
	}
	s.event("Container", nm, "Starting")
	if err := s.e.start(ctx, id); err != nil {
		return fmt.Errorf("start %s: %w", nm, err)
	}
	s.event("Container", nm, "Started")
	return nil
}
