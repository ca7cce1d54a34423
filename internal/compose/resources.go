package compose

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"

	"github.com/berth-project/berth/internal/client"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/volume"
)

// Service runs Compose commands against one engine. Progress lines
// (" Container x  Started") go to Progress.
type Service struct {
	e        *engine
	Progress io.Writer
	// RegistryAuth returns the X-Registry-Auth header for an image
	// reference, or "" (the CLI reads docker's config.json).
	RegistryAuth func(ref string) string
}

// New returns a Service over the API client c.
func New(c *client.Client, progress io.Writer) *Service {
	return &Service{e: &engine{c: c}, Progress: progress}
}

func (s *Service) event(kind, name, state string) {
	if s.Progress != nil {
		fmt.Fprintf(s.Progress, " %s %s  %s\n", kind, name, state)
	}
}

// ensureNetworks creates the project's networks that are missing and checks
// that external ones exist.
func (s *Service) ensureNetworks(ctx context.Context, p *types.Project) error {
	for key, n := range p.Networks {
		if !networkUsed(p, key) {
			continue
		}
		_, err := s.e.c.NetworkInspect(ctx, n.Name)
		if err == nil {
			continue
		}
		if client.StatusOf(err) != http.StatusNotFound {
			return err
		}
		if n.External {
			return fmt.Errorf("network %s declared as external, but could not be found", n.Name)
		}
		req := network.CreateRequest{
			Name: n.Name, Driver: n.Driver, Options: n.DriverOpts, Internal: n.Internal,
			Attachable: n.Attachable, EnableIPv6: n.EnableIPv6, EnableIPv4: n.EnableIPv4,
			Labels: mergeLabels(n.Labels, map[string]string{LabelProject: p.Name, LabelNetwork: key, LabelVersion: ComposeVersion}),
		}
		if req.Driver == "" {
			req.Driver = "bridge"
		}
		ipam, err := ipamConfig(n.Ipam)
		if err != nil {
			return fmt.Errorf("network %s: %w", key, err)
		}
		req.IPAM = ipam
		if err := s.e.networkCreate(ctx, req); err != nil {
			return fmt.Errorf("failed to create network %s: %w", n.Name, err)
		}
		s.event("Network", n.Name, "Created")
	}
	return nil
}

func networkUsed(p *types.Project, key string) bool {
	for _, svc := range p.Services {
		if _, ok := svc.Networks[key]; ok && svc.NetworkMode == "" {
			return true
		}
	}
	return false
}

func ipamConfig(c types.IPAMConfig) (*network.IPAM, error) {
	if c.Driver == "" && len(c.Config) == 0 {
		return nil, nil
	}
	ipam := &network.IPAM{Driver: c.Driver}
	for _, pool := range c.Config {
		var cfg network.IPAMConfig
		if pool.Subnet != "" {
			pfx, err := netip.ParsePrefix(pool.Subnet)
			if err != nil {
				return nil, fmt.Errorf("invalid subnet %q", pool.Subnet)
			}
			cfg.Subnet = pfx
		}
		if pool.Gateway != "" {
			gw, err := netip.ParseAddr(pool.Gateway)
			if err != nil {
				return nil, fmt.Errorf("invalid gateway %q", pool.Gateway)
			}
			cfg.Gateway = gw
		}
		if pool.IPRange != "" {
			r, err := netip.ParsePrefix(pool.IPRange)
			if err != nil {
				return nil, fmt.Errorf("invalid ip_range %q", pool.IPRange)
			}
			cfg.IPRange = r
		}
		ipam.Config = append(ipam.Config, cfg)
	}
	return ipam, nil
}

func mergeLabels(user types.Labels, ours map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range user {
		out[k] = v
	}
	for k, v := range ours {
		out[k] = v
	}
	return out
}

// ensureVolumes creates the project's named volumes that are missing.
func (s *Service) ensureVolumes(ctx context.Context, p *types.Project) error {
	for key, v := range p.Volumes {
		_, err := s.e.c.VolumeInspect(ctx, v.Name)
		if err == nil {
			continue
		}
		if client.StatusOf(err) != http.StatusNotFound {
			return err
		}
		if v.External {
			return fmt.Errorf("external volume %q not found", v.Name)
		}
		req := volume.CreateRequest{Name: v.Name, Driver: v.Driver, DriverOpts: v.DriverOpts,
			Labels: mergeLabels(v.Labels, map[string]string{LabelProject: p.Name, LabelVolume: key, LabelVersion: ComposeVersion})}
		if err := s.e.volumeCreate(ctx, req); err != nil {
			return fmt.Errorf("failed to create volume %s: %w", v.Name, err)
		}
		s.event("Volume", v.Name, "Created")
	}
	return nil
}

// splitRef splits an image reference into the fromImage and tag query
// values of POST /images/create (a digest rides in tag, as docker does).
func splitRef(ref string) (string, string) {
	if name, dg, ok := strings.Cut(ref, "@"); ok {
		return name, dg
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[:i], ref[i+1:]
	}
	return ref, "latest"
}

// pull asks the engine to pull ref.
func (s *Service) pull(ctx context.Context, ref string) error {
	name, tag := splitRef(ref)
	opts := client.ImagePullOptions{Tag: tag}
	if s.RegistryAuth != nil {
		opts.RegistryAuth = s.RegistryAuth(ref)
	}
	rc, err := s.e.c.ImagePull(ctx, name, opts)
	if err != nil {
		return err
	}
	defer rc.Close()
	return streamErr(rc, nil)
}

// ensureImages pulls the images of services that have none locally; a
// service with a build section is built instead (or always, with build).
func (s *Service) ensureImages(ctx context.Context, p *types.Project, build, noBuild bool) error {
	for _, name := range p.ServiceNames() {
		svc := p.Services[name]
		img := ImageName(p, svc)
		ok, err := s.e.imageExists(ctx, img)
		if err != nil {
			return err
		}
		if svc.Build != nil && !noBuild && (build || !ok) {
			if err := s.build(ctx, p, svc, BuildOptions{}); err != nil {
				return err
			}
			continue
		}
		always := svc.PullPolicy == types.PullPolicyAlways
		if (ok && !always) || svc.PullPolicy == types.PullPolicyNever {
			continue
		}
		if svc.Build != nil {
			return fmt.Errorf("service %q: image %s not found and --no-build is set", name, img)
		}
		s.event("Image", img, "Pulling")
		if err := s.pull(ctx, img); err != nil {
			return fmt.Errorf("service %q: failed to pull image %s: %w", name, img, err)
		}
		s.event("Image", img, "Pulled")
	}
	return nil
}
