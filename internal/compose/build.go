package compose

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sort"

	"github.com/berth-project/berth/internal/buildcontext"
	"github.com/berth-project/berth/internal/client"
	"github.com/compose-spec/compose-go/v2/types"
)

// BuildOptions are `compose build`'s options.
type BuildOptions struct {
	NoCache bool
	Pull    bool
	ForceRm bool
	Quiet   bool
}

// Build builds the services that have a build section.
func (s *Service) Build(ctx context.Context, p *types.Project, services []string, o BuildOptions) error {
	sel, err := selectServices(p, services, true)
	if err != nil {
		return err
	}
	for _, n := range dependencyOrder(sel) {
		svc := sel.Services[n]
		if svc.Build == nil {
			continue
		}
		if err := s.build(ctx, sel, svc, o); err != nil {
			return err
		}
	}
	return nil
}

// build sends the service's context to POST /build, tagged with the
// service's image name.
func (s *Service) build(ctx context.Context, p *types.Project, svc types.ServiceConfig, o BuildOptions) error {
	b := svc.Build
	img := ImageName(p, svc)
	dockerfile := b.Dockerfile
	if dockerfile != "" && !filepath.IsAbs(dockerfile) {
		dockerfile = filepath.Join(b.Context, dockerfile)
	}
	bc, err := buildcontext.New(ctx, b.Context, buildcontext.Options{Dockerfile: dockerfile})
	if err != nil {
		return fmt.Errorf("service %q: %w", svc.Name, err)
	}
	defer bc.Close()
	bo := client.ImageBuildOptions{
		Tags: append([]string{img}, b.Tags...), Dockerfile: bc.Dockerfile, Target: b.Target,
		NoCache: o.NoCache || b.NoCache, PullParent: o.Pull || b.Pull, Remove: true, ForceRemove: o.ForceRm,
		NetworkMode: b.Network, BuildArgs: map[string]*string(b.Args),
		Labels: map[string]string{LabelProject: p.Name, LabelService: svc.Name},
	}
	for k, v := range b.Labels {
		bo.Labels[k] = v
	}
	if len(b.ExtraHosts) > 0 {
		bo.ExtraHosts = b.ExtraHosts.AsList(":")
		sort.Strings(bo.ExtraHosts)
	}
	s.event("Service", svc.Name, "Building")
	rc, err := s.e.c.ImageBuild(ctx, bc.Tar, bo)
	if err != nil {
		return fmt.Errorf("service %q: build: %w", svc.Name, err)
	}
	defer rc.Close()
	// Build output carries its own line breaks ("Step 1/5 : FROM x" and
	// "\n" come as two messages): print it as it comes, like docker build.
	var out io.Writer = io.Discard
	if !o.Quiet && s.Progress != nil {
		out = s.Progress
	}
	if err := streamErr(rc, func(line string) { fmt.Fprint(out, line) }); err != nil {
		return fmt.Errorf("service %q: build: %w", svc.Name, err)
	}
	s.event("Service", svc.Name, "Built")
	return nil
}

// push pushes name:tag with the registry auth header docker requires.
func (s *Service) push(ctx context.Context, name, tag, ref string) error {
	opts := client.ImagePushOptions{Tag: tag} // no credentials send "{}", as dockerd wants
	if s.RegistryAuth != nil {
		opts.RegistryAuth = s.RegistryAuth(ref)
	}
	rc, err := s.e.c.ImagePush(ctx, name, opts)
	if err != nil {
		return err
	}
	defer rc.Close()
	return streamErr(rc, nil)
}
