package compose

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/container"
)

// DownOptions are `compose down`'s options.
type DownOptions struct {
	RemoveOrphans bool
	Volumes       bool   // also the project's named volumes and anonymous ones
	RMI           string // "", "local" or "all"
	Timeout       *int
}

// Down stops and removes the project's containers, then its networks, and
// with the options its volumes and images. p may be nil (only -p given):
// then everything carrying the project label goes.
func (s *Service) Down(ctx context.Context, project string, p *types.Project, o DownOptions) error {
	if o.RMI != "" && o.RMI != "local" && o.RMI != "all" {
		return fmt.Errorf("invalid --rmi option %q (want \"local\" or \"all\")", o.RMI)
	}
	list, err := s.e.containers(ctx, true, LabelProject+"="+project)
	if err != nil {
		return err
	}
	known := map[string]bool{}
	if p != nil {
		for _, n := range append(p.ServiceNames(), p.DisabledServiceNames()...) {
			known[n] = true
		}
	}
	var gone []container.Summary
	var orphans []string
	for _, c := range list {
		if p != nil && !o.RemoveOrphans && c.Labels[LabelOneoff] != "True" && !known[c.Labels[LabelService]] {
			orphans = append(orphans, name(c))
			continue
		}
		gone = append(gone, c)
	}
	if len(orphans) > 0 && s.Progress != nil {
		fmt.Fprintf(s.Progress, "WARN[0000] Found orphan containers (%v) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.\n", orphans)
	}
	images := map[string]bool{}
	for _, c := range gone {
		if o.RMI == "all" {
			images[c.Image] = true
		}
	}
	if err := s.removeAll(ctx, gone, o.Timeout, o.Volumes); err != nil {
		return err
	}
	if err := s.downNetworks(ctx, project, p); err != nil {
		return err
	}
	if o.Volumes {
		if err := s.downVolumes(ctx, project, p); err != nil {
			return err
		}
	}
	if p != nil && o.RMI != "" {
		for _, svc := range p.Services {
			if o.RMI == "all" || svc.Image == "" {
				images[ImageName(p, svc)] = true
			}
		}
	}
	return s.removeImages(ctx, images)
}

// removeAll stops the containers in parallel, then removes them.
func (s *Service) removeAll(ctx context.Context, list []container.Summary, timeout *int, volumes bool) error {
	var wg sync.WaitGroup
	errs := make([]error, len(list))
	for i, c := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.stopRemove(ctx, c, timeout, volumes)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) downNetworks(ctx context.Context, project string, p *types.Project) error {
	names := map[string]bool{}
	if p != nil {
		for _, n := range p.Networks {
			if !n.External {
				names[n.Name] = true
			}
		}
	}
	// Networks the project made under an older definition go too.
	list, err := s.e.networks(ctx, LabelProject+"="+project)
	if err != nil {
		return err
	}
	for _, n := range list {
		names[n.Name] = true
	}
	for _, n := range sortedKeys(names) {
		if _, err := s.e.c.NetworkInspect(ctx, n); err != nil {
			continue
		}
		s.event("Network", n, "Removing")
		if err := s.e.networkRemove(ctx, n); err != nil {
			return fmt.Errorf("remove network %s: %w", n, err)
		}
		s.event("Network", n, "Removed")
	}
	return nil
}

func (s *Service) downVolumes(ctx context.Context, project string, p *types.Project) error {
	names := map[string]bool{}
	if p != nil {
		for _, v := range p.Volumes {
			if !v.External {
				names[v.Name] = true
			}
		}
	}
	list, err := s.e.volumes(ctx, LabelProject+"="+project)
	if err != nil {
		return err
	}
	for _, v := range list {
		names[v.Name] = true
	}
	for _, n := range sortedKeys(names) {
		if _, err := s.e.c.VolumeInspect(ctx, n); err != nil {
			continue
		}
		if err := s.e.volumeRemove(ctx, n); err != nil {
			return fmt.Errorf("remove volume %s: %w", n, err)
		}
		s.event("Volume", n, "Removed")
	}
	return nil
}

func (s *Service) removeImages(ctx context.Context, images map[string]bool) error {
	for _, img := range sortedKeys(images) {
		ok, err := s.e.imageExists(ctx, img)
		if err != nil || !ok {
			continue
		}
		if err := s.e.imageRemove(ctx, img); err != nil {
			return fmt.Errorf("remove image %s: %w", img, err)
		}
		s.event("Image", img, "Removed")
	}
	return nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
