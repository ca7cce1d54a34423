package compose

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"sort"
	"strings"

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
	q := url.Values{"t": {img}, "rm": {"1"}}
	for _, t := range b.Tags {
		q.Add("t", t)
	}
	if bc.Dockerfile != "" {
		q.Set("dockerfile", bc.Dockerfile)
	}
	if b.Target != "" {
		q.Set("target", b.Target)
	}
	if o.NoCache || b.NoCache {
		q.Set("nocache", "1")
	}
	if o.Pull || b.Pull {
		q.Set("pull", "1")
	}
	if o.ForceRm {
		q.Set("forcerm", "1")
	}
	if len(b.Args) > 0 {
		args := map[string]*string{}
		for k, v := range b.Args {
			args[k] = v
		}
		j, _ := json.Marshal(args)
		q.Set("buildargs", string(j))
	}
	labels := map[string]string{LabelProject: p.Name, LabelService: svc.Name}
	for k, v := range b.Labels {
		labels[k] = v
	}
	j, _ := json.Marshal(labels)
	q.Set("labels", string(j))
	if len(b.ExtraHosts) > 0 {
		hosts := b.ExtraHosts.AsList(":")
		sort.Strings(hosts)
		q.Set("extrahosts", strings.Join(hosts, ","))
	}
	if b.Network != "" {
		q.Set("networkmode", b.Network)
	}
	s.event("Service", svc.Name, "Building")
	rc, err := s.e.c.ImageBuild(ctx, bc.Tar, client.ImageBuildOptions{Query: q})
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
