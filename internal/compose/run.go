package compose

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// RunOptions are `compose run`'s options.
type RunOptions struct {
	Service      string
	Command      []string
	Name         string
	Entrypoint   []string // nil keeps the service's
	Env          []string
	User         string
	WorkDir      string
	NoDeps       bool
	Rm           bool
	Ports        network.PortMap // -p
	ServicePorts bool
	Tty          bool
	Interactive  bool
	Build        bool
}

// CreateOneoff brings up the service's dependencies (unless NoDeps) and
// creates a one-off container for it, labelled oneoff=True; the caller
// starts and attaches it. It returns the container ID and name.
func (s *Service) CreateOneoff(ctx context.Context, p *types.Project, o RunOptions) (string, string, error) {
	svc, ok := p.Services[o.Service]
	if !ok {
		return "", "", noSuchService(o.Service)
	}
	if !o.NoDeps {
		if deps := svc.GetDependencies(); len(deps) > 0 {
			if _, err := s.Up(ctx, p, UpOptions{Services: deps}); err != nil {
				return "", "", err
			}
		}
	}
	one, err := selectServices(p, []string{o.Service}, true)
	if err != nil {
		return "", "", err
	}
	if err := s.ensureImages(ctx, one, o.Build, false); err != nil {
		return "", "", err
	}
	if err := s.ensureNetworks(ctx, one); err != nil {
		return "", "", err
	}
	if err := s.ensureVolumes(ctx, one); err != nil {
		return "", "", err
	}
	if !o.ServicePorts {
		svc.Ports = nil
	}
	svc.Tty, svc.StdinOpen = o.Tty, o.Interactive
	hash, err := ServiceHash(svc)
	if err != nil {
		return "", "", err
	}
	spec, err := buildSpec(p, svc, 1, true, hash, s.resolver(ctx, p))
	if err != nil {
		return "", "", err
	}
	applyRun(spec, o)
	id, err := s.createSpec(ctx, spec)
	if err != nil {
		return "", "", err
	}
	return id, spec.name, nil
}

func applyRun(spec *createSpec, o RunOptions) {
	cfg, hc := spec.req.Config, spec.req.HostConfig
	if o.Name != "" {
		spec.name = o.Name
	}
	if o.Command != nil {
		cfg.Cmd = o.Command
	}
	if o.Entrypoint != nil {
		cfg.Entrypoint = o.Entrypoint
		if o.Command == nil {
			cfg.Cmd = nil
		}
	}
	cfg.Env = append(cfg.Env, o.Env...)
	if o.User != "" {
		cfg.User = o.User
	}
	if o.WorkDir != "" {
		cfg.WorkingDir = o.WorkDir
	}
	cfg.AttachStdout, cfg.AttachStderr = true, true
	cfg.AttachStdin, cfg.StdinOnce = o.Interactive, o.Interactive
	// A one-off container never restarts; --rm asks the engine to remove it.
	hc.RestartPolicy = container.RestartPolicy{Name: container.RestartPolicyDisabled}
	hc.AutoRemove = o.Rm
	for port, bs := range o.Ports {
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = network.PortSet{}
		}
		if hc.PortBindings == nil {
			hc.PortBindings = network.PortMap{}
		}
		cfg.ExposedPorts[port] = struct{}{}
		hc.PortBindings[port] = append(hc.PortBindings[port], bs...)
	}
	cfg.Labels[LabelNumber] = strconv.Itoa(1)
	cfg.Labels[LabelOneoff] = "True"
}

func randSuffix() string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return fmt.Sprint(b)
	}
	return hex.EncodeToString(b)
}
